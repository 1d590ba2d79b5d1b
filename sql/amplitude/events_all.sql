-- Every row Amplitude exported, for every project and upload hour, including the later copies
-- of a uuid that Amplitude exported in two upload hours. It reads the copies by upload day, which
-- hold the rows of the hour files in fewer files and row groups. union_by_name is on once files
-- of two schema versions exist, so that a column added by a newer loader never breaks older
-- files; off while all share one schema, since it makes every query read every footer first.
SELECT *
FROM read_parquet('{events_glob}', hive_partitioning = false, union_by_name = {union_by_name})

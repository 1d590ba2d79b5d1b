-- Every row Amplitude exported, for every project and upload hour, including the later copies
-- of a uuid that Amplitude exported in two upload hours. union_by_name is on once files of two
-- schema versions exist, so that a column added by a newer loader never breaks older files; off
-- while all files share one schema, since it makes every query read every file's footer first.
SELECT *
FROM read_parquet('{events_glob}', hive_partitioning = false, union_by_name = {union_by_name})

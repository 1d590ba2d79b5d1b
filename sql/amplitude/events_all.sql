-- Every row Amplitude exported, for every project and upload hour, including the later copies
-- of a uuid that Amplitude exported in two upload hours. It reads the files of one snapshot of
-- the lake: one file per compacted upload day, and the hour files of days not compacted yet.
-- union_by_name is on while files of two schema versions are live, so that a column added by a
-- newer loader never breaks older files; off otherwise, since it makes every query read every
-- footer first.
SELECT *
FROM read_parquet({events_files}, hive_partitioning = false, union_by_name = {union_by_name})

-- Every row Amplitude exported, for every project and upload hour, including the later copies
-- of a uuid that Amplitude exported in two upload hours. union_by_name: a column added by a
-- newer loader never breaks older files.
SELECT *
FROM read_parquet('{events_glob}', hive_partitioning = false, union_by_name = true)

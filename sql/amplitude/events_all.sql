-- Every row Amplitude exported, for every project and upload hour, including the later copies
-- of a uuid that Amplitude exported in two upload hours (`later_copy`). It reads the files of
-- one version of each project's events table (a Delta table): compacted days and hours. Times
-- are typed UTC in the files and shown here as naive UTC timestamps.
SELECT {columns}
FROM read_parquet({events_files}, hive_partitioning = false, union_by_name = {union_by_name})

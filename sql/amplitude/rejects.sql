-- Lines of the export that could not be loaded, with the reason, where they came from, and
-- their text. Rows rejected here are counted in each hour's manifest (load_log.rejects);
-- `loaded` is false for the lines of an hour that failed (too many rejects) and is not loaded.
SELECT {columns}
FROM read_parquet({files}, hive_partitioning = false)

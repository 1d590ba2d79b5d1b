-- One row per loaded hour of every table: the newest record of each hour in the load log (a
-- Delta table beside the tables it describes; it keeps every reload's record).
SELECT * EXCLUDE (request) FROM (
    SELECT {columns}
    FROM read_parquet({files}, hive_partitioning = false, union_by_name = true)
)
QUALIFY row_number() OVER (
    PARTITION BY project_id, table_name, upload_hour ORDER BY loaded_at DESC
) = 1

-- One row per event (uuid) and project: where Amplitude exported a uuid in two upload hours,
-- the earliest upload hour's copy is kept, whatever order the hours were loaded in. The later
-- copies are listed in each project's duplicate index and stay visible in events_all.
SELECT e.*
FROM amplitude.events_all AS e
WHERE NOT EXISTS (
    SELECT 1
    FROM read_parquet({duplicates_files}, hive_partitioning = false) AS d
    WHERE d.uuid = e.uuid AND d.upload_hour = e.upload_hour AND d.project_id = e.project_id
)

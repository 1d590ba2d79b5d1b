-- Every row of `experiment_exposures` with the flag's definition from `experiment_flags`.
--
--   definition_at    the flag snapshot used: the latest one taken at or before the event, or,
--                    for events older than every snapshot, the flag's first snapshot; NULL
--                    when no snapshot holds the flag (deleted before the first snapshot, or
--                    served by no configured deployment)
--   flag_type, flag_version, experiment_key_of_flag   from the flag's configuration
--   variant_known    whether the variant the event reports is one of the flag's variants then
--   variant_value, variant_payload   that variant's value and payload (JSON)
-- A flag served by several deployments has one definition per snapshot: the first deployment's
-- by name (deployments serve the same configuration of a flag).
WITH flags AS (
    SELECT project_id, flag_key, snapshot_at, flag_type, flag_version, experiment_key, variants,
        -- The first snapshot also stands for the time before it.
        CASE WHEN snapshot_at = min(snapshot_at) OVER (PARTITION BY project_id, flag_key)
            THEN TIMESTAMP '-infinity' ELSE snapshot_at END AS valid_from
    FROM amplitude.experiment_flags
    QUALIFY row_number() OVER (
        PARTITION BY project_id, flag_key, snapshot_at ORDER BY deployment
    ) = 1
),
variants AS (
    SELECT f.project_id, f.flag_key, f.snapshot_at, v.key AS variant_key,
        v.value ->> '$.value' AS variant_value, v.value -> '$.payload' AS variant_payload
    FROM flags AS f, json_each(f.variants) AS v
),
defined AS (
    SELECT e.*, f.snapshot_at AS definition_at, f.flag_type, f.flag_version,
        f.experiment_key AS experiment_key_of_flag
    FROM amplitude.experiment_exposures AS e
    ASOF LEFT JOIN flags AS f
        ON e.project_id = f.project_id AND e.flag_key = f.flag_key
        AND e.event_time >= f.valid_from
)
SELECT d.*, v.variant_key IS NOT NULL AS variant_known, v.variant_value, v.variant_payload
FROM defined AS d
LEFT JOIN variants AS v
    ON v.project_id = d.project_id AND v.flag_key = d.flag_key
    AND v.snapshot_at = d.definition_at AND v.variant_key = d.variant

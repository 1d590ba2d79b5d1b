-- One row per experiment flag an event reports, from Amplitude Experiment's own events.
--
--   kind = 'exposure'    an `[Experiment] Exposure` event: the user saw the variant; its
--                        properties `flag_key` and `variant` (and `experiment_key` if sent)
--   kind = 'assignment'  an `[Experiment] Assignment` event: the evaluation assigned a variant;
--                        one row per `<flag_key>.variant` property it carries
-- Analyses of an experiment should count exposures; assignments say who was bucketed.
WITH experiment_events AS (
    SELECT project_id, uuid, event_type, event_time, amplitude_id, nullif(user_id, '') AS user_id,
        device_id, event_properties
    FROM amplitude.events
    WHERE event_type IN ('[Experiment] Exposure', '[Experiment] Assignment')
)
SELECT
    project_id, uuid, 'exposure' AS kind,
    event_properties ->> '$.flag_key' AS flag_key,
    event_properties ->> '$.variant' AS variant,
    event_properties ->> '$.experiment_key' AS experiment_key,
    event_time, amplitude_id, user_id, device_id
FROM experiment_events
WHERE event_type = '[Experiment] Exposure'
UNION ALL
SELECT
    e.project_id, e.uuid, 'assignment' AS kind,
    left(p.key, length(p.key) - length('.variant')) AS flag_key,
    p.value ->> '$' AS variant,
    NULL AS experiment_key,
    e.event_time, e.amplitude_id, e.user_id, e.device_id
FROM experiment_events AS e, json_each(e.event_properties) AS p
WHERE e.event_type = '[Experiment] Assignment' AND p.key LIKE '%.variant'

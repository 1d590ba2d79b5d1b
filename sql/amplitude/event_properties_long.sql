-- One row per event and event property: the property bags in long form, for exploring them.
--
--   property     the key, exactly as sent
--   value_json   the value as JSON (objects and arrays whole)
--   value_text   strings without their quotes, other values as JSON text; null for JSON null
--   value_type   the JSON type: VARCHAR, BIGINT, UBIGINT, DOUBLE, BOOLEAN, NULL, ARRAY, OBJECT
-- Events without properties have no rows.
SELECT
    e.project_id,
    e.uuid,
    e.event_type,
    e.event_time,
    p.key AS property,
    p.value AS value_json,
    p.value ->> '$' AS value_text,
    p.type AS value_type
FROM amplitude.events AS e, json_each(e.event_properties) AS p

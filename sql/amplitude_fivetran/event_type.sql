-- The `event_type` table of Fivetran's Amplitude schema: the latest events list snapshot of each
-- project (`/api/2/events/list`), one row per event type id and project, with Fivetran's names.
-- _fivetran_deleted is always false (the loader keeps history in amplitude.event_types instead);
-- _fivetran_synced is when the snapshot was taken.
SELECT
    id,
    project_id::VARCHAR AS project_name,
    false AS _fivetran_deleted,
    snapshot_at AS _fivetran_synced,
    TRY_CAST(raw ->> '$.autohidden' AS BOOLEAN) AS autohidden,
    deleted,
    TRY_CAST(raw ->> '$.flow_hidden' AS BOOLEAN) AS flow_hidden,
    hidden,
    TRY_CAST(raw ->> '$.in_waitroom' AS BOOLEAN) AS in_waitroom,
    non_active,
    TRY_CAST(raw ->> '$.timeline_hidden' AS BOOLEAN) AS timeline_hidden,
    display,
    coalesce(raw ->> '$.name', name) AS name,
    coalesce(raw ->> '$.value', name) AS value,
    totals,
    TRY_CAST(raw ->> '$.totals_delta' AS BIGINT) AS totals_delta,
    raw ->> '$.waitroom_approved' AS waitroom_approved
FROM amplitude.event_types_current
QUALIFY row_number() OVER (PARTITION BY project_id, id ORDER BY name) = 1

-- The `event` table of Fivetran's Amplitude schema, so that dbt packages written for it (such as
-- fivetran/dbt_amplitude) run unchanged: Fivetran's column names and types, over amplitude.events.
--
-- Renamed: event_id -> id, $insert_id -> _insert_id, adid -> ad_id, $schema -> schema.
-- Added: event_type_id (the id of the event type in the latest events list snapshot, null until
-- one is taken), project_name (the project id as text, as in Fivetran's own data) and
-- _fivetran_synced (when the loader wrote the row).
-- Typed as Fivetran types them: JSON objects, app and coordinates as text, paying as boolean.
-- An empty user_id is null here, so the package falls back to amplitude_id for that user.
--
-- One row per the package's event key (event id, device, client event time, and user_id or else
-- amplitude_id): the package tests that key for uniqueness, and Amplitude re-exports an event
-- with a new uuid when it is re-uploaded. Of such copies the one uploaded last is kept, which is
-- the copy the package itself would keep.
WITH event_types AS (
    SELECT project_id, name, id
    FROM amplitude.event_types_current
    QUALIFY row_number() OVER (
        PARTITION BY project_id, name ORDER BY coalesce(deleted, false), id DESC
    ) = 1
),
events AS (
    SELECT *
    FROM amplitude.events
    QUALIFY row_number() OVER (
        PARTITION BY
            event_id, device_id, client_event_time,
            coalesce(nullif(user_id, ''), amplitude_id::VARCHAR)
        ORDER BY client_upload_time DESC NULLS LAST, upload_hour DESC, project_id, uuid
    ) = 1
)
SELECT
    e.event_id AS id,
    e.device_id,
    e.server_upload_time,
    t.id AS event_type_id,
    e.insert_id AS _insert_id,
    e.adid AS ad_id,
    e.amplitude_id,
    e.app::VARCHAR AS app,
    e.city,
    e.country,
    e.region,
    e.dma,
    e.client_event_time,
    e.client_upload_time,
    e.event_time,
    e.processed_time,
    e.server_received_time,
    e.user_creation_time,
    e.data::VARCHAR AS data,
    e.event_properties::VARCHAR AS event_properties,
    e.group_properties::VARCHAR AS group_properties,
    e.user_properties::VARCHAR AS user_properties,
    e.groups::VARCHAR AS groups,
    e.device_brand,
    e.device_carrier,
    e.device_family,
    e.device_manufacturer,
    e.device_model,
    e.device_type,
    e.event_type,
    e.idfa,
    e.ip_address,
    e.language,
    e.library,
    e.os_name,
    e.os_version,
    e.platform,
    e.start_version,
    e.version_name,
    nullif(e.user_id, '') AS user_id,
    e.uuid,
    e.is_attribution_event,
    TRY_CAST(e.paying AS BOOLEAN) AS paying,
    e.location_lat::VARCHAR AS location_lat,
    e.location_lng::VARCHAR AS location_lng,
    e.project_id::VARCHAR AS project_name,
    TRY_CAST(e.schema AS INTEGER) AS schema,
    e.session_id,
    e.amplitude_event_type,
    e.sample_rate,
    e.loaded_at AS _fivetran_synced
FROM events AS e
LEFT JOIN event_types AS t ON t.project_id = e.project_id AND t.name = e.event_type

-- Events with the columns analysts use most, one row per event.
select
    project_id,
    uuid,
    event_time,
    event_type,
    user_id,
    device_id,
    amplitude_id,
    nullif(session_id, -1) as session_id,
    event_properties,
    user_properties,
    platform,
    country,
    upload_hour
from {{ source('amplitude', 'events') }}

-- Events with the columns analysts use most, one row per event.
select
    project_id,
    uuid,
    event_time,
    event_time::date as event_day,
    event_type,
    nullif(user_id, '') as user_id,
    device_id,
    amplitude_id,
    nullif(session_id, -1) as session_id,
    event_properties,
    user_properties,
    platform,
    country,
    upload_hour
from {{ source('amplitude', 'events') }}

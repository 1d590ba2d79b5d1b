-- The current events list: one row per event type and project.
select
    project_id,
    id as event_type_id,
    name as event_type,
    display as display_name,
    totals as events_last_week,
    coalesce(deleted, false) as is_deleted,
    coalesce(hidden, false) as is_hidden,
    coalesce(non_active, false) as is_non_active
from {{ source('amplitude', 'event_types_current') }}

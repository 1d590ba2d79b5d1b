-- One row per user (amplitude_id) and project: when they were first and last seen, the user_id
-- they last identified with, the platforms they used, and how much they did.
select
    project_id,
    amplitude_id,
    last(user_id order by event_time, uuid) filter (where user_id is not null) as user_id,
    min(event_time) as first_seen_at,
    max(event_time) as last_seen_at,
    list_sort(list_distinct(list(platform) filter (where platform is not null))) as platforms,
    count(*) as events,
    count(distinct session_id) as sessions,
    count(distinct event_day) as active_days
from {{ ref('stg_amplitude__events') }}
where amplitude_id is not null
group by project_id, amplitude_id

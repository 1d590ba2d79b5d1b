-- Per project, UTC day and event type: events, users (amplitude_id), identified users (user_id)
-- and sessions. Events without an event_time have no day and are left out.
select
    project_id,
    event_day,
    event_type,
    count(*) as events,
    count(distinct amplitude_id) as users,
    count(distinct user_id) as identified_users,
    count(distinct (amplitude_id, session_id)) filter (where session_id is not null) as sessions
from {{ ref('stg_amplitude__events') }}
where event_day is not null
group by project_id, event_day, event_type

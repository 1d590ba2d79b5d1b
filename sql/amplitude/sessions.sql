-- One row per session.
--
-- A session is what Amplitude calls one: the events of one user (amplitude_id) that carry the
-- same session_id, the session's start in milliseconds since the epoch. Events with session_id -1
-- (sent outside a session) or no session_id belong to no session. Times are event_time, UTC.
--   started_at, ended_at   the first and last event_time of the session
--   duration_seconds       ended_at - started_at, 0 for a session of one event
--   events                 events in the session (after de-duplication by uuid)
--   first_event_type,      the event type of the first and last event, ties broken by uuid
--   last_event_type
--   user_id                the last non-empty user_id seen in the session (users log in
--                          mid-session), null if none
SELECT
    project_id,
    amplitude_id,
    session_id,
    last(user_id ORDER BY event_time, uuid) FILTER (WHERE user_id <> '') AS user_id,
    min(event_time) AS started_at,
    max(event_time) AS ended_at,
    date_diff('microsecond', min(event_time), max(event_time)) / 1e6 AS duration_seconds,
    count(*) AS events,
    first(event_type ORDER BY event_time, uuid) AS first_event_type,
    last(event_type ORDER BY event_time, uuid) AS last_event_type
FROM amplitude.events
WHERE session_id IS NOT NULL AND session_id <> -1 AND amplitude_id IS NOT NULL
GROUP BY project_id, amplitude_id, session_id

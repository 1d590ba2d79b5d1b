-- Active users per project and UTC day: daily (DAU), over the 7 days ending that day (WAU) and
-- over the 30 days ending that day (MAU).
--
-- A user is active on a day when they logged an active event with an event_time on that day.
-- Every event is active except Amplitude's `$identify` and `$groupidentify` (property updates,
-- not activity) and the event types that the latest events list marks non_active.
--   dau, wau, mau                      distinct amplitude_id
--   dau_user_id, wau_user_id, ...      distinct non-empty user_id (users who identified)
-- Every day from a project's first to its last active day has a row, quiet days included.
WITH activity AS (
    SELECT DISTINCT
        e.project_id,
        e.event_time::DATE AS day,
        e.amplitude_id,
        nullif(e.user_id, '') AS user_id
    FROM amplitude.events AS e
    WHERE e.event_time IS NOT NULL
        AND e.event_type NOT IN ('$identify', '$groupidentify')
        AND NOT EXISTS (
            SELECT 1
            FROM amplitude.event_types_current AS t
            WHERE t.project_id = e.project_id AND t.name = e.event_type AND t.non_active
        )
),
days AS (
    SELECT project_id, unnest(range(min(day), max(day) + 1, INTERVAL 1 DAY))::DATE AS day
    FROM activity
    GROUP BY project_id
)
SELECT
    d.project_id,
    d.day,
    count(DISTINCT a.amplitude_id) FILTER (WHERE a.day = d.day) AS dau,
    count(DISTINCT a.amplitude_id) FILTER (WHERE a.day > d.day - 7) AS wau,
    count(DISTINCT a.amplitude_id) AS mau,
    count(DISTINCT a.user_id) FILTER (WHERE a.day = d.day) AS dau_user_id,
    count(DISTINCT a.user_id) FILTER (WHERE a.day > d.day - 7) AS wau_user_id,
    count(DISTINCT a.user_id) AS mau_user_id
FROM days AS d
LEFT JOIN activity AS a
    ON a.project_id = d.project_id AND a.day BETWEEN d.day - 29 AND d.day
GROUP BY d.project_id, d.day

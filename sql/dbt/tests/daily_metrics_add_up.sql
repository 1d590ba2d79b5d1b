-- The daily metrics mart counts every event of the source exactly once.
-- In Dagster, a check of the mart (a test of two tables is attached to one of them).
{{ config(meta={"dagster": {"ref": {"name": "amplitude__daily_event_metrics"}}}) }}
with mart as (select sum(events) as events from {{ ref('amplitude__daily_event_metrics') }}),
source as (
    select count(*) as events from {{ source('amplitude', 'events') }} where event_time is not null
)
select * from mart, source where mart.events <> source.events

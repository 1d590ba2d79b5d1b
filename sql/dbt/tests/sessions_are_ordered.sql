-- A session ends no earlier than it starts and holds at least one event.
select *
from {{ source('amplitude', 'sessions') }}
where ended_at < started_at or events < 1 or duration_seconds < 0

-- The current definition of each cohort.
select
    project_id,
    cohort_id,
    name as cohort_name,
    description,
    size as cohort_size,
    coalesce(archived, false) as is_archived,
    last_computed as last_computed_at,
    created_at,
    snapshot_at
from {{ source('amplitude', 'cohorts_current') }}

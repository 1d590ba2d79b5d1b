-- Members of every current cohort, from its latest download.
select
    project_id,
    cohort_id,
    amplitude_id,
    nullif(user_id, '') as user_id,
    group_value,
    snapshot_at as downloaded_at
from {{ source('amplitude', 'cohort_members_current') }}

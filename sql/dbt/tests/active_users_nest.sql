-- Daily actives are among the weekly ones, and those among the monthly ones.
select *
from {{ source('amplitude', 'daily_active_users') }}
where not (dau <= wau and wau <= mau)
    or not (dau_user_id <= wau_user_id and wau_user_id <= mau_user_id)

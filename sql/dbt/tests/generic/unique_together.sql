{% test unique_together(model, columns) %}
-- Rows that share the values of `columns` with another row (no dbt packages needed).
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#
  fivetran/dbt_amplitude configures BigQuery-style partitioning on its tables
  (partition_by={"field": ..., "data_type": ...}); dbt-duckdb reads partition_by as DuckLake
  partition columns and rejects a mapping. A plain DuckDB file has no partitions, so this
  project overrides the adapter's macro by name (root project macros win) and partitions nothing.
#}
{% macro duckdb__get_partitioned_by(relation, temporary) -%}
  {{ return(none) }}
{%- endmacro %}

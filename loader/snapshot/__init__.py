"""Snapshots of the lake: immutable files, one commit per change, readers pinned to a snapshot.

The semantics are those of open table formats (Iceberg, Delta Lake, DuckLake), on plain Parquet
and JSON that DuckDB reads without extensions:

- `layout`: where every file goes; each is written once, under a name never used before;
- `state`: what one snapshot holds (the live files of every table);
- `log`: the commit log, one record per snapshot, each created by one atomic step;
- `reader`: a snapshot's files as URLs for DuckDB;
- `vacuum`: deleting what no snapshot younger than the retention references;
- `migrate`: adopting a lake written before the commit log.
"""

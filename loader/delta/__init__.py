"""The lake's tables as Delta Lake tables (delta-rs): generic, no source named here.

- `tables`: what a table is (`TableSpec`), where it lives and how delta-rs reaches it, and the
  check that a version reads exactly as a list of its Parquet files;
- `files`: the loader's own Parquet files as the actions that add or remove them;
- `commit`: one transaction per change, computed again if another writer was first;
- `maintenance`: compaction, vacuum, checkpoints and log clean-up.
"""

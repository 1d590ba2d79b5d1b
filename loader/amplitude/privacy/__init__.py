"""Privacy deletions for Amplitude projects: users deleted in Amplitude disappear from the lake.

- `deletion_api`: the User Privacy API (v1, per project): list deletion jobs, submit requests.
- `records`: the lake's tables `privacy_deletions` and `privacy_erasures`, and the erased ids.
- `erase`: one commit that removes users from every table that holds per-user rows.
- `scrub`: a load drops the rows of users erased before (a reload never brings them back).
- `sync`: the deletion sync and `forget`, as the command line and Dagster run them.
"""

"""Erasing users from the lake: who was erased, and rewriting the files that hold them.

Generic machinery: it knows tables by the columns that name users (`ErasableTable`), never by
their source. `digests` keeps the erased ids only as keyed digests, `erased` is the list a load
and an erasure match rows against, `files` rewrites one file without the matching rows, and
`tables` applies that to every file of a table's state, for one commit.
"""

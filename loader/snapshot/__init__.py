"""Where the lake's tables live (`layout`): the one place that names their folders.

Which files make up a table, and each version of it, is the table's Delta log (`loader.delta`).
"""

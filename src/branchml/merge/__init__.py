"""Merge drivers: data merges by appending, models are replaced (requirement C4).

One module per driver, each a pure function over bytes (or, for SQLite, files); `driver` runs
them for Git, reading and writing branchml pointers through the store. See docs/merge.md.
"""

"""Branches as buckets: `branchml://<ref>/<path>` for fsspec readers (pandas, pyarrow, polars,
DuckDB), writes that become commits under the branch's rules, and `branchml get`."""

"""Data flow on data branches: raw uploads, pull by copy, cleaning, the shared split, lineage.

Every step is one Git commit; provenance is written as commit trailers (`Data-Source:`,
`Data-From: <ref>@<commit>`) and read back by `lineage`. See docs/data-flow.md.
"""

"""`branchml ui`: a local, read-only web view of the project (branches, runs, releases, tags,
lineage, files, monitoring), server-rendered over the same Python API as the CLI."""

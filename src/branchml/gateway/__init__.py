"""`branchml gateway`: an S3-compatible endpoint over the repository (bucket = repository name,
key = <ref>/<path>); reads any ref, writes are commits under the branch's rules."""

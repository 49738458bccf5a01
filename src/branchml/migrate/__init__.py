"""Adoption by history rewriting: Git LFS, DVC or plain Git history in, plain Git or Git LFS out.

git-filter-repo (used as a library) walks the history once through `git fast-export`/`fast-import`;
the converters here only decide, per file, what its new content is (`convert.py`). Around that run:
a scan that lists what would change (the dry run), backup refs under `refs/original/`, notes copied
to the rewritten commits, and a verification of the store afterwards (`rewrite.py`).
"""

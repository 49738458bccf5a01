"""Audit: what changed between two refs (files, rows, params, metrics), whether a tag reproduces,
and the whole story of a tag in one answer. Reads Git and the store only; writes nothing to either."""

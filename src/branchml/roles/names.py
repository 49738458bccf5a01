"""Which role a branch name has. The roles issue makes the globs configurable in branchml.toml."""

from __future__ import annotations

from fnmatch import fnmatchcase

# glob -> role, first match wins
DEFAULT_ROLE_GLOBS: list[tuple[str, str]] = [
    ("main", "main"),
    ("data/raw", "data/raw"),
    ("data/clean", "data/clean"),
    ("data/split", "data/split"),
    ("dev/*", "dev"),
    ("stable/*", "stable"),
    ("monitor/*", "monitor"),
    ("ds/*", "ds"),
]


def role_of(branch: str, globs: list[tuple[str, str]] | None = None) -> str | None:
    """The role of `branch` (a short name such as 'stable/acme', or refs/heads/...), or None."""
    name = branch.removeprefix("refs/heads/")
    for glob, role in globs or DEFAULT_ROLE_GLOBS:
        if fnmatchcase(name, glob):
            return role
    return None

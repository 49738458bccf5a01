"""Which role a branch has, from the `[roles.branches]` globs of branchml.toml."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

# glob -> role, first match wins (the same table as config.DEFAULTS["roles"]["branches"])
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


def role_globs(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """The (glob, role) pairs of a loaded config, in file order; a role of "" switches a glob off."""
    table = cfg.get("roles", {}).get("branches", {})
    return [(glob, role) for glob, role in table.items() if role]


def role_of(branch: str, globs: list[tuple[str, str]] | None = None) -> str | None:
    """The role of `branch` (a short name such as 'stable/acme', or refs/heads/...), or None."""
    name = branch.removeprefix("refs/heads/")
    for glob, role in DEFAULT_ROLE_GLOBS if globs is None else globs:
        if fnmatchcase(name, glob):
            return role
    return None

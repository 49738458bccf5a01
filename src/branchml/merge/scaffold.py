"""Default `.gitattributes` lines written by `branchml init`: data appends, models are replaced."""

from __future__ import annotations

from branchml.git import attributes
from branchml.repo import Repo

COMMENT = "# branchml merge drivers (README: Merging data and models)"

# pattern -> attributes; more specific lines come later, because in .gitattributes the last match wins.
DEFAULT_ATTRIBUTES: dict[str, str] = {
    "tracking/**/*.json": "merge=branchml-jsonlist",
    "tracking/**/*.jsonl": "merge=branchml-rows",
    "data/**/*.jsonl": "merge=branchml-rows",
    "data/**/*.ndjson": "merge=branchml-rows",
    "data/**/*.csv": "merge=branchml-rows",
    "data/**/*.tsv": "merge=branchml-rows",
    "logs/**/*.jsonl": "merge=branchml-rows",
    "logs/**/*.csv": "merge=branchml-rows",
    "*.sqlite": "merge=branchml-sqlite",
    "*.sqlite3": "merge=branchml-sqlite",
    "*.db": "merge=branchml-sqlite",
    "models/**": "merge=branchml-replace",
    "checkpoints/**": "merge=branchml-replace",
}


def scaffold(repo: Repo) -> list[str]:
    """Add the default lines whose pattern the file does not mention yet; returns the patterns added."""
    path = repo.work_tree / ".gitattributes"
    present = {attributes.pattern_of(line) for line in attributes.read_lines(path)}
    missing = [p for p in DEFAULT_ATTRIBUTES if p not in present]
    if not missing:
        return []
    lines = attributes.read_lines(path)
    if COMMENT not in lines:
        lines.append(COMMENT)
    lines += [f"{p} {DEFAULT_ATTRIBUTES[p]}" for p in missing]
    attributes.write_lines(path, lines)
    return missing

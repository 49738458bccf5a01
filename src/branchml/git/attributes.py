"""`.gitattributes` lines that branchml manages, kept in one marked block so edits are exact."""

from __future__ import annotations

from pathlib import Path

from branchml.files import write_atomic

TRACK_ATTRS = "filter=branchml diff=branchml -text"


def track_attrs(merge_attr: str | None = None) -> str:
    """The attributes of a tracked pattern; a merge attribute sits on the same line (`merge=branchml-rows`)."""
    if not merge_attr:
        return TRACK_ATTRS
    return f"filter=branchml diff=branchml {merge_attr} -text"


def merge_attr_of(path: Path, pattern: str) -> str | None:
    """The `merge=...` attribute the line for `pattern` sets, if any (kept when the pattern is re-tracked)."""
    for line in read_lines(path):
        if pattern_of(line) == pattern:
            return next((a for a in line.split()[1:] if a.startswith("merge=")), None)
    return None


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def write_lines(path: Path, lines: list[str]) -> None:
    write_atomic(path, ("\n".join(lines) + "\n").encode() if lines else b"")


def pattern_of(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    return stripped.split()[0]


def set_pattern(path: Path, pattern: str, attrs: str) -> bool:
    """Give `pattern` exactly `attrs` (replacing a line with the same pattern). True if changed."""
    lines = read_lines(path)
    wanted = f"{pattern} {attrs}"
    for i, line in enumerate(lines):
        if pattern_of(line) == pattern:
            if line.strip() == wanted:
                return False
            lines[i] = wanted
            write_lines(path, lines)
            return True
    lines.append(wanted)
    write_lines(path, lines)
    return True


def remove_pattern(path: Path, pattern: str) -> bool:
    lines = read_lines(path)
    kept = [line for line in lines if pattern_of(line) != pattern]
    if len(kept) == len(lines):
        return False
    write_lines(path, kept)
    return True


def tracked_patterns(path: Path) -> list[str]:
    found = (pattern_of(line) for line in read_lines(path) if "filter=branchml" in line.split())
    return [pattern for pattern in found if pattern is not None]  # a comment line names no pattern

"""What kind of file a path is (code, data, model, tracking, docs, logs...), from `[paths]` globs.

A path can be ambiguous: `models/train.py` sits in the model folder but is Python source. Kinds
listed in `[roles] by_type` (default: code) are therefore decided by the file's type first: their
globs without a folder (`*.py`, `Dockerfile`) win over the folder globs of other kinds, so code
cannot reach a stable branch by being put in `models/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pathspec

ANY = "*"  # in a rule's list of kinds: every path, whatever its kind
OTHER = "other"  # the kind of a path no glob matches


@dataclass(frozen=True)
class PathKinds:
    """Ordered kinds with their gitignore-style globs; the first kind that matches a path wins."""

    specs: tuple[tuple[str, pathspec.PathSpec[Any]], ...]
    by_type: tuple[tuple[str, pathspec.PathSpec[Any]], ...] = ()  # kinds decided by file type first

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> PathKinds:
        table = cfg.get("paths", {})
        typed = cfg.get("roles", {}).get("by_type", ["code"])
        specs = tuple((kind, pathspec.GitIgnoreSpec.from_lines(globs)) for kind, globs in table.items())
        names = tuple((kind, pathspec.GitIgnoreSpec.from_lines([g for g in table.get(kind, []) if "/" not in g]))
                      for kind in typed)
        return cls(specs, names)

    def kind_of(self, path: str) -> str:
        for kind, spec in self.by_type + self.specs:
            if spec.match_file(path):
                return kind
        return OTHER

    def is_any(self, path: str, kinds: list[str]) -> bool:
        """True when `path` is of one of `kinds` ("*" in kinds matches every path)."""
        return ANY in kinds or self.kind_of(path) in kinds

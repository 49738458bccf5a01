"""What kind of file a path is (code, data, model, tracking, docs, logs...), from `[paths]` globs."""

from __future__ import annotations

from dataclasses import dataclass

import pathspec

ANY = "*"  # in a rule's list of kinds: every path, whatever its kind
OTHER = "other"  # the kind of a path no glob matches


@dataclass(frozen=True)
class PathKinds:
    """Ordered kinds with their gitignore-style globs; the first kind that matches a path wins."""

    specs: tuple[tuple[str, pathspec.PathSpec], ...]

    @classmethod
    def from_config(cls, cfg: dict) -> PathKinds:
        table = cfg.get("paths", {})
        return cls(tuple((kind, pathspec.GitIgnoreSpec.from_lines(globs)) for kind, globs in table.items()))

    def kind_of(self, path: str) -> str:
        for kind, spec in self.specs:
            if spec.match_file(path):
                return kind
        return OTHER

    def is_any(self, path: str, kinds: list[str]) -> bool:
        """True when `path` is of one of `kinds` ("*" in kinds matches every path)."""
        return ANY in kinds or self.kind_of(path) in kinds

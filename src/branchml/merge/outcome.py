"""What a content merge returns: the bytes for Git, and the conflicts left in them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    data: bytes  # the merge (with conflict markers where it conflicts)
    conflicts: list[str] = field(default_factory=list)  # one line per conflict, for stderr

    @property
    def clean(self) -> bool:
        return not self.conflicts

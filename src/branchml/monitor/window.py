"""The records of a check's window: every tag's logs on one commit of monitor/<env>, since a time.

Read with ls-tree and one `cat-file --batch-command` process; part folders are named by UTC date,
so `since` skips whole days before any blob is read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.git.cmd import Where
from branchml.monitor import stored
from branchml.monitor.branch import list_files
from branchml.monitor.records import LABELS_DIR, LOGS_DIR, LogRecord, parse_lines


@dataclass
class Window:
    env: str
    commit: str
    since: str | None
    by_tag: dict[str, list[LogRecord]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.by_tag.values())

    def span(self) -> tuple[str | None, str | None]:
        stamps = [r.ts for records in self.by_tag.values() for r in records]
        return min(stamps, default=None), max(stamps, default=None)


def read_window(cwd: Where, env: str, commit: str, since: str | None) -> Window:
    window = Window(env, commit, since)
    parts = [e for e in list_files(cwd, commit, LOGS_DIR)
             if not e.path.startswith(LABELS_DIR + "/") and (since is None or _day(e.path) >= since[:10])]
    found: dict[str, list[LogRecord]] = defaultdict(list)
    with plumbing.CatFile(cwd) as cat:
        for entry, (_name, body) in zip(parts, cat.contents_many(e.oid for e in parts)):
            if body is None:
                raise BranchmlError(f"monitor/{env}:{entry.path}: blob {entry.oid} is missing", hint="git fetch the monitor branch again")
            where = f"monitor/{env}:{entry.path}"
            for record in parse_lines(stored.part_content(cwd, body[1], where), where):  # a part may be a pointer
                if since is None or record.ts >= since:
                    found[record.tag].append(record)
    window.by_tag = {tag: sorted(records, key=lambda r: r.ts) for tag, records in sorted(found.items())}
    return window


def _day(path: str) -> str:
    """The UTC date folder of `logs/<tag>/<date>/<part>`."""
    parts = path.split("/")
    return parts[2] if len(parts) >= 4 else ""

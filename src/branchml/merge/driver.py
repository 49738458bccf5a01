"""`branchml merge-driver NAME %O %A %B %P %L`: run one merge driver for Git.

Git's contract: write the result into %A; exit 0 when clean, 1 when it conflicts. Anything that
goes wrong (missing content, a bug) exits 129 with a message naming the path, and %A keeps ours:
an error is never passed off as a clean merge, and no partial bytes are ever written.
"""

from __future__ import annotations

import os
import sys
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from branchml import config
from branchml.crash import report_crash
from branchml.errors import BranchmlError, ExitCode, NotARepository
from branchml.merge import append, jsonstream
from branchml.merge.external import Source
from branchml.merge.jsonlist import merge_json_sources, merge_jsonlist, streams
from branchml.merge.records import Unmergeable
from branchml.merge.rows import format_for, merge_row_sources
from branchml.merge.sides import (
    Side,
    read_bytes,
    read_side,
    same_content,
    to_file,
    write_result,
)
from branchml.merge.sqlite import merge_sqlite
from branchml.repo import Repo
from branchml.settings import MergeSettings, StoreSettings
from branchml.store.store import Store

DRIVERS = ("jsonlist", "rows", "sqlite", "replace")
CLEAN, CONFLICT, ERROR = ExitCode.OK, ExitCode.FAILED, ExitCode.MERGE_DRIVER_ERROR


class Env:
    """The repository around a merge, looked up only when a driver needs it."""

    def __init__(self, path: str) -> None:
        self.path = path

    @cached_property
    def repo(self) -> Repo | None:
        try:
            return Repo.find()
        except NotARepository:
            return None

    @cached_property
    def config(self) -> dict[str, Any]:
        repo = self.repo
        if repo is None:
            return config.DEFAULTS
        return config.load(repo.root, repo.store_dir)

    def store(self) -> Store:
        if self.repo is None:
            raise BranchmlError(f"{self.path}: a branchml pointer, but no repository here to read its content from")
        return self.repo.store

    @cached_property
    def merge_settings(self) -> MergeSettings:
        return MergeSettings.from_config(self.config)

    def key(self, driver: str) -> str | None:
        """The key for this path: the first matching glob under [merge.DRIVER.keys], else [merge.DRIVER] key."""
        keys = {"rows": self.merge_settings.rows, "jsonlist": self.merge_settings.jsonlist}[driver]
        return keys.key_for(self.path) or None

    @property
    def max_bytes(self) -> int:
        return self.merge_settings.max_bytes

    def as_pointer(self, ours: Side, theirs: Side, size: int) -> bool:
        """Answer a pointer when the file is tracked (a side was one) and not small enough to stay inline."""
        inline_below = StoreSettings.from_config(self.config).inline_below
        return bool(ours.pointer or theirs.pointer) and size >= inline_below

    def tmp_folder(self) -> str | None:
        """Big temporary copies go beside the store (same disk), not to a small /tmp."""
        if self.repo is not None and (self.repo.store_dir / "tmp").is_dir():
            return str(self.repo.store_dir / "tmp")
        return None


def run(name: str, base: str, ours: str, theirs: str, path: str, marker_size: str = "7") -> int:
    """Merge for Git and return the exit code; messages go to stderr."""
    try:
        conflicts, hint = merge(name, Path(base), Path(ours), Path(theirs), path, int(marker_size or 7))
    except BranchmlError as exc:
        _say(f"branchml merge-driver {name}: {path}: {exc}\n  the merge of {path} stopped; the file keeps our version")
        return ERROR
    except Exception as exc:  # a bug: say so loudly rather than report a conflict or a wrong merge
        _say(f"{path}: " + report_crash(exc, f"merge-driver {name} {path}") + f"\n  the merge of {path} stopped; the file keeps our version")
        return ERROR
    for conflict in conflicts:
        _say(f"CONFLICT (branchml-{name}): {path}: {conflict}")
    if conflicts:
        _say(f"  hint: {hint}")
    return CONFLICT if conflicts else CLEAN


def merge(name: str, base: Path, ours: Path, theirs: Path, path: str, marker_size: int = 7) -> tuple[list[str], str]:
    """Write the merge of base/ours/theirs into `ours`; return the conflicts (none when clean) and how to resolve them."""
    if name not in DRIVERS:
        raise BranchmlError(f"unknown merge driver {name!r}", hint=f"use one of {', '.join(DRIVERS)}")
    env = Env(path)
    o, a, b = (read_side(side, p, path) for side, p in (("base", base), ("ours", ours), ("theirs", theirs)))
    if same_content(a, b) or same_content(o, b):
        return [], ""  # %A already holds the answer
    if same_content(o, a) or name == "replace":
        write_result(a.path, b.path, False, env.store)  # theirs as Git gave it: pointer or plain
        return [], ""
    try:
        if name == "sqlite":
            return _merge_sqlite(env, o, a, b), _resolve_hint(name, path)
        return _merge_text(env, name, o, a, b, marker_size), _resolve_hint(name, path)
    except Unmergeable as exc:  # %A was not touched: it still holds ours
        return [str(exc)], (f"{path} keeps our version: merge it by hand, or take theirs with "
                            f"`git checkout --theirs -- {path}`, then `git add {path}`")


def _merge_text(env: Env, name: str, o: Side, a: Side, b: Side, marker_size: int) -> list[str]:
    if name == "rows" and env.key("rows") is None and _merge_appended(env, o, a, b):
        return []
    if name == "rows" or _json_arrays(env, (o, a, b)):
        return _merge_streamed(env, name, o, a, b, marker_size)
    data = [read_bytes(side, env.store, env.max_bytes, env.path) for side in (o, a, b)]
    outcome = merge_jsonlist(*data, key=env.key("jsonlist"), marker_size=marker_size)  # a JSON object: in memory
    write_result(a.path, outcome.data, env.as_pointer(a, b, len(outcome.data)), env.store)
    return outcome.conflicts


def _json_arrays(env: Env, sides: tuple[Side, ...]) -> bool:
    """True when every side is a JSON array or empty, judged from its first block: then it streams."""

    def kind(side: Side) -> str | None:
        head = next(append.content(side, env.store, env.path), b"")
        found = jsonstream.kind(head)
        return "other" if found is None and side.size > len(head) else found

    return streams(kind(side) for side in sides)


def _merge_streamed(env: Env, name: str, o: Side, a: Side, b: Side, marker_size: int) -> list[str]:
    """The external merge (`external`): sides as files (pointers streamed out of the store), bounded memory."""

    with tempfile.TemporaryDirectory(prefix=f"branchml-merge-{os.getpid()}-", dir=env.tmp_folder()) as tmp:
        folder = Path(tmp)
        base, ours, theirs = (Source(side.name, path=to_file(side, env.store, folder, env.path)) for side in (o, a, b))
        target = folder / "result"
        with open(target, "wb") as out:
            if name == "rows":
                result = merge_row_sources(base, ours, theirs, out, fmt=format_for(env.path), key=env.key("rows"),
                                           marker_size=marker_size, folder=folder)
            else:
                result = merge_json_sources(base, ours, theirs, out, key=env.key("jsonlist"),
                                            marker_size=marker_size, folder=folder)
        if result.same_as is ours and (a.pointer or not b.pointer):
            return []  # %A already holds ours, in the form it should keep
        chosen = result.same_as.path if result.same_as and result.same_as.path else target
        write_result(a.path, chosen, env.as_pointer(a, b, chosen.stat().st_size), env.store)
    return result.conflicts


def _merge_appended(env: Env, o: Side, a: Side, b: Side) -> bool:
    """When both sides only appended to the base, merge by streaming (see `append`); False otherwise."""

    if o.size == 0:
        return False
    digest, size, at_row_end = append.base_digest(o, env.store, env.path)
    if not at_row_end:
        return False
    tails = [append.tail_after_prefix(side, env.store, env.path, digest, size, env.max_bytes) for side in (a, b)]
    if tails[0] is None or tails[1] is None:
        return False
    extra = append.theirs_extra(tails[0], tails[1], format_for(env.path))
    with tempfile.TemporaryDirectory(prefix=f"branchml-merge-{os.getpid()}-", dir=env.tmp_folder()) as tmp:
        result = Path(tmp) / "result"
        append.write_appended(result, a, tails[0], extra, env.store, env.path)
        write_result(a.path, result, env.as_pointer(a, b, result.stat().st_size), env.store)
    return True


def _merge_sqlite(env: Env, o: Side, a: Side, b: Side) -> list[str]:
    with tempfile.TemporaryDirectory(prefix=f"branchml-merge-{os.getpid()}-", dir=env.tmp_folder()) as tmp:
        folder = Path(tmp)
        base, ours, theirs = (to_file(side, env.store, folder, env.path) for side in (o, a, b))
        result = folder / "result"
        conflicts = merge_sqlite(base, ours, theirs, result)
        write_result(a.path, result, env.as_pointer(a, b, result.stat().st_size), env.store)
    return conflicts


def _resolve_hint(name: str, path: str) -> str:
    if name == "sqlite":
        return (f"{path} holds every change that merged cleanly; the rows in its table branchml_merge_conflicts "
                f"kept our version: fix them, DROP that table, then `git add {path}`")
    return f"edit {path} (conflicts are between <<<<<<< and >>>>>>> lines), then `git add {path}`"


def _say(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()

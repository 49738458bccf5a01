"""Batches of records committed onto `monitor/<env>` with plumbing: no checkout, no work tree.

Each batch becomes new part files (blobs), a tree built from the branch tip's tree plus those files
(`mktree`, only the directories on the new paths are rewritten), a commit, and
`update-ref monitor/<env> NEW OLD`: a compare-and-swap that fails when another writer (another
server process, another host's push) moved the branch first; we then rebuild on the new tip.

Large parts (or all, when the branch tracks `logs/**`) are stored like the filter stores any tracked
file: content in the chunk store, a pointer in Git (stored.py), so the pre-push hook uploads them.

Every commit carries `Monitor-Journal: <journal> <first>-<last>`, the journal sequence numbers it
holds, so a restarted writer knows exactly which journaled records are already on the branch.
"""

from __future__ import annotations

import os
import random
import re
import socket
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from branchml.errors import BranchmlError, RefChanged
from branchml.git import plumbing, porcelain
from branchml.git.cmd import Where
from branchml.monitor import stored
from branchml.monitor.records import LogRecord, branch_ref, part_path
from branchml.monitor.scaffold import RULES_PATH, SCAFFOLD

MAX_ATTEMPTS = 50
TRAILER = "Monitor-Journal"


class Dated(Protocol):
    """What a batch needs of a record besides its JSON line: where its part file goes."""

    @property
    def tag(self) -> str: ...

    @property
    def date(self) -> str: ...


class Row(NamedTuple):
    """A journaled record as a running Logger keeps it until its batch commits: its tag and UTC date,
    not the record (the features' objects would live for seconds and burden the collector)."""

    tag: str
    date: str


@dataclass(frozen=True)
class Batch:
    """Records `first`..`last` of one journal, in order, with their JSON lines when the writer kept them."""

    journal: str
    first: int
    last: int
    records: Sequence[Dated]  # a LogRecord or a Row each
    lines: Sequence[str]  # `LogRecord.to_json()` of each record


def records_batch(journal: str, first: int, records: Sequence[LogRecord]) -> Batch:
    """The batch of `records`, journal seqs `first`.. on, serialised here."""
    return Batch(journal, first, first + len(records) - 1, records, [record.to_json() for record in records])


def commit_batch(cwd: Where, env: str, batch: Batch) -> str:
    """Commit `batch` onto monitor/<env> (created when missing); returns the new commit."""
    return commit_files(cwd, env, batch_files(batch), batch_message(env, batch))


def commit_files(cwd: Where, env: str, files: Mapping[str, bytes], message: str,
                 trees: plumbing.CatFile | None = None) -> str:
    """Add new files to monitor/<env> in one commit, retrying the compare-and-swap when it moved;
    `trees`: a long-lived reader for the trees on the new paths (else one `ls-tree` per tree)."""
    ref = branch_ref(env)
    blobs, routed_by = None, ""
    for attempt in range(MAX_ATTEMPTS):
        old = plumbing.rev_parse(cwd, f"{ref}^{{commit}}")
        attributes = plumbing.rev_parse(cwd, f"{old}:{stored.ATTRIBUTES}") or "" if old else ""
        if blobs is None or attributes != routed_by:  # which parts are pointers depends on the tip's attributes
            blobs, routed_by = stored.part_blobs(cwd, old, files).oids, attributes
        # a new monitor branch starts with the editable alert rules (docs/alerts.md)
        first = {} if old else {RULES_PATH: plumbing.hash_object(cwd, SCAFFOLD.encode())}
        tree = tree_with(cwd, f"{old}^{{tree}}" if old else None, {**first, **blobs}, trees)
        new = plumbing.commit_tree(cwd, tree, [old] if old else [], message)
        try:
            plumbing.update_ref(cwd, ref, new, old=old, message="branchml monitor: add logs")
        except RefChanged:
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # another writer won: rebuild on its tip
            continue
        _show_if_checked_out(cwd, ref, new, [*first, *blobs])
        return new
    raise BranchmlError(f"could not commit {len(files)} file(s) onto {ref}: it kept moving", hint="retry")


def _show_if_checked_out(cwd: Where, ref: str, commit: str, paths: list[str]) -> None:
    """With monitor/<env> checked out here, put the new files in the index and work tree too: else
    `git status` reads them as deleted and the next commit there would drop them. Best effort (another
    process may hold the index): the commit is what counts, and `git checkout -- .` shows it later."""
    if plumbing.head_ref(cwd) == ref:
        porcelain.checkout_paths(cwd, commit, paths, check=False)


def batch_files(batch: Batch) -> dict[str, bytes]:
    """One part file per (tag, UTC date) of the batch, lines in journal order."""
    lines: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record, text in zip(batch.records, batch.lines, strict=True):
        lines[(record.tag, record.date)].append(text)
    return {part_path(tag, date, batch.journal, batch.first): ("\n".join(rows) + "\n").encode()
            for (tag, date), rows in lines.items()}


def batch_message(env: str, batch: Batch) -> str:
    tags = sorted({r.tag for r in batch.records})
    title = f"monitor/{env}: {len(batch.records)} record(s) of {', '.join(tags)}"
    pairs = [(TRAILER, f"{batch.journal} {batch.first}-{batch.last}"),
             ("Monitor-Writer", f"{socket.gethostname()} pid {os.getpid()}")]
    return plumbing.with_trailers(title, pairs + [("Monitor-Tag", tag) for tag in tags])


def tree_with(cwd: Where, base: str | None, files: Mapping[str, str], trees: plumbing.CatFile | None = None) -> str:
    """The tree `base` (None: empty) with `files` (path -> blob id) added or replaced."""
    listed = (trees.tree(base) if trees else plumbing.ls_tree(cwd, base, recursive=False)) if base else []
    entries = {e.path: e for e in listed}
    subdirs: dict[str, dict[str, str]] = defaultdict(dict)
    for path, oid in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            subdirs[head][rest] = oid
        else:
            entries[head] = plumbing.TreeEntry("100644", "blob", oid, head)
    for name, inner in subdirs.items():
        old = entries.get(name)
        subtree = tree_with(cwd, old.oid if old is not None and old.type == "tree" else None, inner, trees)
        entries[name] = plumbing.TreeEntry("040000", "tree", subtree, name)
    return plumbing.mktree(cwd, entries.values())


def committed_through(cwd: Where, env: str, journal: str) -> int:
    """The highest seq of `journal` already on monitor/<env> (0: none)."""
    ref = branch_ref(env)
    if plumbing.rev_parse(cwd, f"{ref}^{{commit}}") is None:
        return 0
    out = "\n".join(m for (m,) in plumbing.log_records(cwd, [ref], ["%B"], grep=f"{TRAILER}: {journal} ", fixed=True))
    pattern = re.compile(rf"^{TRAILER}: {re.escape(journal)} (\d+)-(\d+)$", re.MULTILINE)
    return max((int(m.group(2)) for m in pattern.finditer(out)), default=0)


def list_files(cwd: Where, rev: str, prefix: str) -> list[plumbing.TreeEntry]:
    """Blobs under the folder `prefix` of `rev` (recursive), paths from the root."""
    return [e for e in plumbing.ls_tree(cwd, rev, [f"{prefix}/"]) if e.type == "blob"]

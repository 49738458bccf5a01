"""Data lineage of a run's commit: `branchml.data.lineage`, and a trailer walk for commits it does not cover."""

from __future__ import annotations

from branchml.data.lineage import lineage
from branchml.git.cmd import git_ok

LINEAGE_KEYS = ("Data-Source", "Data-From")
MAX_COMMITS = 5000


def data_lineage(repo, rev: str) -> dict:
    return lineage(repo, rev)


def trailer_lineage(repo, rev: str) -> dict:
    """`Data-Source`/`Data-From` trailers of `rev`'s history, following `Data-From: ref@commit` links."""
    entries, seen, todo = [], set(), [rev]
    while todo and len(seen) < MAX_COMMITS:
        start = todo.pop()
        for commit, key, value in _trailers(repo, start, seen):
            entries.append({"commit": commit, "key": key, "value": value})
            source = value.rpartition("@")[2] if key == "Data-From" else ""
            if source and source not in seen and _exists(repo, source):
                todo.append(source)
    return {"method": "trailers", "entries": entries}


def _exists(repo, rev: str) -> bool:
    return git_ok(["cat-file", "-e", f"{rev}^{{commit}}"], repo.cwd)


def _trailers(repo, rev: str, seen: set[str]):
    keys = ",".join(f"key={k}" for k in LINEAGE_KEYS)
    out = repo.git_text(["log", f"--format=%H%x00%(trailers:{keys},unfold)%x01", rev, f"--max-count={MAX_COMMITS}"])
    for block in out.split("\x01"):
        commit, _, trailers = block.strip("\n").partition("\x00")
        if not commit or commit in seen:
            continue
        seen.add(commit)
        for line in trailers.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in LINEAGE_KEYS:
                yield commit, key.strip(), value.strip()

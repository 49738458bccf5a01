"""The functions of `branchml.api` that join two library calls (a report and what it needs).

Each is what one command does beyond a single call: `show --monitor` adds the tag's logs, `fetch`
then writes the files a checkout holds as pointers, `release get --remote URL` works outside the
repository. Here, not in `cli/`, so a script calling the API gets what the command does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from branchml.checkout import materialize_matching
from branchml.experiments.report import Report
from branchml.experiments.report import report as experiments_report
from branchml.git import plumbing, porcelain
from branchml.monitor.labels import tag_summaries
from branchml.monitor.query import parse_since
from branchml.remote.api import fetch
from branchml.remote.download import FetchReport
from branchml.remote.ondemand import make_fetcher
from branchml.repo import Repo, use_fetcher
from branchml.runs.release import ReleaseWritten, get, repo_for
from branchml.runs.show import RunInfo
from branchml.runs.show import show as run_info
from branchml.store.pointer import MAX_POINTER_SIZE, parse_pointer
from branchml.workflows.fsck import require_store


def open_repo(path: str | os.PathLike[str] | None = None) -> Repo:
    """The repository around `path` (default: the current folder). Stores opened in this process
    fetch content they lack from the blob remote, as the `branchml` command's do."""
    use_fetcher(make_fetcher)
    return Repo.find(path)


def ab_report(repo: Repo, env: str, metric: str = "accuracy", since: str | None = None, confidence: float = 0.95) -> Report:
    """The online experiments of monitor/<env> (`branchml ab report`); `since`: 7d, 12h or an ISO date."""
    return experiments_report(repo.cwd, env, metric, parse_since(since), confidence)


def show(repo: Repo, tag: str, *, monitor: bool = False, since: str | None = None) -> RunInfo:
    """Where `tag` came from (code, data lineage, metrics, files); with `monitor`, its production logs
    per monitor/<env> branch (records newer than `since`: 7d, 12h or an ISO date)."""
    info = run_info(repo, tag)
    if monitor:
        info.monitor = [found.as_dict() for found in tag_summaries(repo.cwd, tag, since)]  # runs/ keeps the JSON form
    return info


def get_release(repo: Repo | None, customer: str, dest: Path, *, tag: str | None = None, remote: str | None = None,
                force: bool = False) -> ReleaseWritten:
    """Write `customer`'s latest release (or `tag`) into `dest`. `repo` None: the repository here, or,
    with a `remote` URL that is not one of its Git remotes (e.g. in an empty folder), a cache clone of it."""
    if repo is None or (remote is not None and remote not in porcelain.remote_names(repo.cwd)):
        repo, remote = repo_for(remote)
    return get(repo, customer, dest, tag=tag, remote=remote, force=force)


def fetch_and_write(repo: Repo, refs: list[str], include: list[str], remote: str | None = None,
                    advance: Callable[[int], None] = lambda n: None) -> tuple[FetchReport, list[str]]:
    """`branchml fetch`: download what `refs` (default HEAD) need; for this checkout, also write the
    files it holds as pointers (BRANCHML_SKIP_SMUDGE=1 checkouts). The fetch report and the paths written."""
    report = fetch(repo, refs, include, remote, advance)
    here = repo.root is not None and set(refs) <= {"HEAD"}
    return report, materialize_matching(repo, include) if here else []


def fsck_total(repo: Repo) -> int:
    """Bytes `fsck --read-data` reads: the progress bar's end."""
    require_store(repo)
    return int(repo.store.stats()["chunk_bytes"])


def cat(repo: Repo, pointer_file: BinaryIO, out: BinaryIO) -> None:
    """Write the content a pointer (read from `pointer_file`) refers to, verified as a whole before
    the first byte goes out (a terminal or pipe cannot take bytes back)."""
    name = getattr(pointer_file, "name", "<stdin>")
    pointer = parse_pointer(pointer_file.read(MAX_POINTER_SIZE + 1), name)
    require_store(repo)
    repo.store.verify_file(pointer, name)
    for data in repo.store.iter_file(pointer, name):
        out.write(data)


def ref_names(*patterns: str) -> list[str]:
    """Short names of the refs under `patterns` in the repository here (shell completion)."""
    return [name for (name,) in plumbing.ref_rows(None, patterns, ["refname:short"])]

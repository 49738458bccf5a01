"""Lineage from commit trailers: which raw uploads a commit's data came from, and the reverse.

`Data-Source: <text>` marks a raw upload; `Data-From: <ref>@<commit>` marks a pull by copy. The
lineage of a commit is every upload reachable from it, plus, for every pull reachable from it,
the lineage of the pulled commit, recursively. Only Git is read, so it works in any clone, offline.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from branchml.data.tree import resolve_commit
from branchml.git import plumbing
from branchml.repo import Repo

MULTI = "\x1e"  # between the values of one trailer key
FIELDS = ["%H", "%cI", "%s"] + [f"%(trailers:key={k},valueonly,separator=%x1e)" for k in ("Data-From", "Data-Source", "Run-Tag")]
ORIGIN = re.compile(r"^(?P<ref>.+)@(?P<commit>[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass
class Upload:
    """A raw upload: a commit carrying `Data-Source:`, and how many files it added."""

    commit: str
    source: str
    date: str
    subject: str
    files: int = 0


@dataclass
class Node:
    """A commit's lineage: the uploads reachable from it and the pulls reachable from it."""

    commit: str
    uploads: list[Upload] = field(default_factory=list)
    chain: list[Pull] = field(default_factory=list)
    missing: bool = False  # the commit is not in this clone


@dataclass
class Pull:
    """A pull by copy (`Data-From: <ref>@<commit>` on `pulled_in`) and the lineage of the pulled commit."""

    ref: str
    commit: str | None  # None when the trailer is malformed
    pulled_in: str
    uploads: list[Upload] = field(default_factory=list)
    chain: list[Pull] = field(default_factory=list)
    missing: bool = False  # the pulled commit is not in this clone
    malformed: bool = False  # the trailer is not <ref>@<full commit id>

    def as_dict(self) -> dict[str, Any]:
        """As `lineage --json` and run records spell it: `missing`/`malformed` only when true."""
        out: dict[str, Any] = {"ref": self.ref, "commit": self.commit, "pulled_in": self.pulled_in,
                               "uploads": [asdict(u) for u in self.uploads], "chain": [p.as_dict() for p in self.chain]}
        out.update({flag: True for flag in ("missing", "malformed") if getattr(self, flag)})
        return out


@dataclass(frozen=True)
class Entry:
    """One lineage trailer, flat: the shape model cards read."""

    commit: str
    key: str  # Data-From or Data-Source
    value: str


@dataclass
class Lineage:
    """What `rev`'s data came from (`branchml lineage`): every raw upload, and the pulls back to them."""

    rev: str
    commit: str
    code_commit: str
    sources: list[Upload]  # every upload once, oldest first
    chain: list[Pull]  # the nested pulls
    entries: list[Entry]  # the same as flat trailers, pulls before what they pulled

    def as_dict(self) -> dict[str, Any]:
        """The committed form (run records' `data_lineage`, docs/formats.md) and `--json`."""
        return {"rev": self.rev, "commit": self.commit, "code_commit": self.code_commit,
                "sources": [asdict(u) for u in self.sources], "chain": [p.as_dict() for p in self.chain],
                "entries": [asdict(e) for e in self.entries]}


@dataclass(frozen=True)
class User:
    """A branch, tag or run whose data holds a commit's data (`branchml used-by`)."""

    ref: str
    name: str
    kind: str  # branch, tag or run
    how: str  # contains, or pulled
    via: list[str]  # the pulls `<ref>@<commit>` from the ref down to the commit, outermost first


@dataclass
class Usage:
    rev: str
    commit: str
    users: list[User]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Walker:
    """Reads trailers once per commit walk and remembers them: lineage and used-by share it."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._nodes: dict[str, Node] = {}
        self._files: dict[str, int] = {}

    def node(self, commit: str, stack: frozenset[str] = frozenset()) -> Node:
        """The uploads reachable from `commit` and the pulls reachable from it, each with its own node."""
        if commit in self._nodes:
            return self._nodes[commit]
        if not self._exists(commit):
            return Node(commit, missing=True)
        uploads, pulls = [], []
        for record in self._trailer_commits(commit):
            if record["sources"]:
                uploads.append(Upload(record["commit"], "; ".join(record["sources"]), record["date"], record["subject"]))
            for origin in record["origins"]:
                pulls.append(self._pull(record["commit"], origin, stack | {commit}))
        self._count_files(uploads)
        self._nodes[commit] = Node(commit, uploads, [p for p in pulls if p])
        return self._nodes[commit]

    def _pull(self, pulled_in: str, origin: str, stack: frozenset[str]) -> Pull | None:
        match = ORIGIN.match(origin.strip())
        if not match:
            return Pull(origin, None, pulled_in, malformed=True)
        target = match["commit"]
        if target in stack:
            return None  # cannot happen in a real history; guards against hand-made trailers
        node = self.node(target, stack)
        return Pull(match["ref"], node.commit, pulled_in, node.uploads, node.chain, missing=node.missing)

    def _exists(self, commit: str) -> bool:
        return plumbing.commit_id(self.repo.cwd, commit) is not None

    def _trailer_commits(self, commit: str) -> list[dict[str, Any]]:
        rows = plumbing.log_records(self.repo.cwd, [commit], FIELDS, grep="^(Data-From|Data-Source):")
        records = []
        for sha, date, subject, origins, sources, _runs in rows:
            records.append({"commit": sha, "date": date, "subject": subject, "origins": _values(origins), "sources": _values(sources)})
        return records

    def _count_files(self, uploads: list[Upload]) -> None:
        """Files each upload added, in one batch over the uploads not counted yet."""
        todo = [u.commit for u in uploads if u.commit not in self._files]
        if todo:
            for commit, paths in plumbing.added_paths(self.repo.cwd, todo).items():
                self._files[commit] = len(paths)
        for upload in uploads:
            upload.files = self._files.get(upload.commit, 0)


def _values(field: str) -> list[str]:
    return [v.strip() for v in field.split(MULTI) if v.strip()]


def all_uploads(repo: Repo, node: Node) -> list[Upload]:
    """Every upload of a lineage tree once, oldest first (parents before children, then by date)."""
    seen: dict[str, Upload] = {}
    stack: list[Node | Pull] = [node]
    while stack:
        current = stack.pop()
        for upload in current.uploads:
            seen.setdefault(upload.commit, upload)
        stack.extend(current.chain)
    if not seen:
        return []
    # commit dates tie within a second; the topological order does not
    order = plumbing.rev_list(repo.cwd, ["--topo-order", "--reverse"], stdin=list(seen))
    rank = {commit: i for i, commit in enumerate(order)}
    return sorted(seen.values(), key=lambda u: (rank.get(u.commit, len(rank)), u.date, u.commit))


def lineage(repo: Repo, rev: str) -> Lineage:
    """What `rev`'s data came from: its raw uploads, the nested pulls back to them, the flat trailers."""
    commit = resolve_commit(repo, rev)
    node = Walker(repo).node(commit)
    return Lineage(rev, commit, code_commit(repo, commit), all_uploads(repo, node), node.chain, trailer_entries(node))


def code_commit(repo: Repo, commit: str) -> str:
    """The code that goes with the data: a run commit's `Code-From:` trailer, else the commit itself."""
    (value,) = plumbing.log_records(repo.cwd, [commit], ["%(trailers:key=Code-From,valueonly,separator=%x1e)"], no_walk=True)[0]
    named = value.strip().split(MULTI)[0].strip()
    return named or commit


def trailer_entries(node: Node) -> list[Entry]:
    """The same lineage as flat trailers, pulls before what they pulled (the shape model cards read)."""
    entries: list[Entry] = []
    seen: set[str] = set()

    def visit(current: Node | Pull) -> None:
        for pull in current.chain:
            entries.append(Entry(pull.pulled_in, "Data-From", f"{pull.ref}@{pull.commit}"))
            visit(pull)
        for upload in current.uploads:
            if upload.commit not in seen:
                seen.add(upload.commit)
                entries.append(Entry(upload.commit, "Data-Source", upload.source))

    visit(node)
    return entries


def used_by(repo: Repo, rev: str) -> Usage:
    """Branches, tags and runs whose data contains `rev` or was pulled, at any depth, from it or a descendant.

    One `git log --all` gives every commit's parents and `Data-From` pulls; the commits that hold
    `rev` are then found by a breadth-first walk up from it (children first, pulls after: each user
    gets its path with the fewest pulls), so the cost does not grow with the number of refs.
    """
    target = resolve_commit(repo, rev)
    children, pulled_by = _graph(repo)
    holds = _holders(target, children, pulled_by)
    users = []
    for ref, commit, kind in _refs(repo):
        via = holds.get(commit)
        if via is not None:
            users.append(User(ref, _short(ref), kind, "pulled" if via else "contains", list(via)))
    return Usage(rev, target, users)


def _graph(repo: Repo) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str]]]]:
    """children[commit] and pulled_by[pulled commit] = [(pulling commit, ref name)] over all refs."""
    fields = ["%H", "%P", "%(trailers:key=Data-From,valueonly,separator=%x1e)"]
    children: dict[str, list[str]] = {}
    pulled_by: dict[str, list[tuple[str, str]]] = {}
    for commit, parents, origins in plumbing.log_records(repo.cwd, ["--all"], fields):
        commit = commit.strip("\n")
        for parent in parents.split():
            children.setdefault(parent, []).append(commit)
        for origin in filter(None, (o.strip() for o in origins.split(MULTI))):
            match = ORIGIN.match(origin)
            if match:
                pulled_by.setdefault(match["commit"], []).append((commit, match["ref"]))
    return children, pulled_by


def _holders(target: str, children: dict[str, list[str]], pulled_by: dict[str, list[tuple[str, str]]]) -> dict[str, tuple[str, ...]]:
    """Every commit that holds `target`'s data, with the pulls (outermost first) that brought it there."""
    found: dict[str, tuple[str, ...]] = {target: ()}
    queue = deque([target])
    while queue:  # 0-1 breadth-first: a child costs no pull, a pull costs one
        commit = queue.popleft()
        via = found[commit]
        for child in children.get(commit, []):
            if child not in found or len(found[child]) > len(via):
                found[child] = via
                queue.appendleft(child)
        for puller, ref in pulled_by.get(commit, []):
            if puller not in found or len(found[puller]) > len(via) + 1:
                found[puller] = (f"{ref}@{commit}", *via)
                queue.append(puller)
    return found


def _refs(repo: Repo) -> list[tuple[str, str, str]]:
    """(ref, commit, kind) of every branch and tag; a tag whose commit carries Run-Tag is a run."""
    refs = []
    for ref, obj, peeled in plumbing.ref_rows(repo.cwd, ["refs/heads", "refs/tags"], ["refname", "objectname", "*objectname"]):
        refs.append((ref, peeled or obj, "branch" if ref.startswith("refs/heads/") else "tag"))
    runs = _run_commits(repo, [c for r, c, k in refs if k == "tag"])
    return [(r, c, "run" if k == "tag" and c in runs else k) for r, c, k in refs]


def _run_commits(repo: Repo, commits: list[str]) -> set[str]:
    if not commits:
        return set()
    rows = plumbing.log_records(repo.cwd, sorted(set(commits)), ["%H", "%(trailers:key=Run-Tag,valueonly)"], no_walk=True)
    return {commit for commit, tag in rows if tag.strip()}


def _short(ref: str) -> str:
    return ref.removeprefix("refs/heads/").removeprefix("refs/tags/")

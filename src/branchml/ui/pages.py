"""What each page shows, assembled from the Python API (no HTML here; templates render it)."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from branchml.audit.content import blob_at, iter_bytes
from branchml.audit.refdiff import diff_refs
from branchml.audit.why import why
from branchml.fs.locate import NotFound, clean_path, commit_of
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.roles.branches import list_branches
from branchml.runs import tracking
from branchml.runs.release import list_releases
from branchml.runs.settings import run_settings
from branchml.runs.show import show
from branchml.workflows.commitchecks import verify_all

# The seed's diagram, left to right; dev/* and ds/* sit around the flow.
FLOW = ["main", "data/raw", "data/clean", "data/split", "stable", "monitor"]
AROUND = ["dev", "ds"]
MAX_CARD_BYTES = 1 << 20

class RuleChecks:
    """`verify --all` in a background thread, remembered for exactly one set of branch heads.

    On a large history the rule check takes far longer than a page load, so the map never waits for
    it: it shows the violations once they are known for the current heads, and says when they are not.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heads: tuple[str, ...] | None = None
        self._found: list[Any] | None = None

    def violations(self, repo: Repo, heads: tuple[str, ...]) -> list[Any] | None:
        """The violations for `heads`, or None while they are being checked."""
        with self._lock:
            if self._heads == heads:
                return self._found
            self._heads, self._found = heads, None
        threading.Thread(target=self._check, args=(repo.cwd, heads), daemon=True).start()
        return None

    def _check(self, root: Any, heads: tuple[str, ...]) -> None:
        found = verify_all(Repo.find(root))
        with self._lock:
            if self._heads == heads:
                self._found = found


RULES = RuleChecks()


def branch_map(repo: Repo) -> dict[str, Any]:
    branches = list_branches(repo)
    violations = RULES.violations(repo, tuple(sorted(f"{b.branch}:{b.head}" for b in branches)))
    by_branch: dict[str, list[str]] = defaultdict(list)
    for v in violations or []:
        by_branch[v.ref.removeprefix("refs/heads/")].append(v.line())
    columns: dict[str, list[dict[str, Any]]] = {role: [] for role in FLOW + AROUND + ["other"]}
    for b in branches:
        role = b.role if b.role in columns else "other"
        columns[role].append({**b.to_json(), "violations": by_branch.get(b.branch, [])})
    return {"flow": [(r, columns[r]) for r in FLOW], "around": [(r, columns[r]) for r in AROUND + ["other"]],
            "rules_checked": violations is not None, "violation_count": len(violations or [])}


def runs(repo: Repo, customer: str = "", branch: str = "", sort: str = "started", order: str = "desc") -> dict[str, Any]:
    records = [r.to_json() for r in tracking.read_records(repo, _tracking_branch(repo))]
    metrics = sorted({m for r in records for m in (r.get("metrics") or {})})
    shown = [r for r in records if (not customer or r.get("customer") == customer) and (not branch or r.get("branch") == branch)]
    shown.sort(key=lambda r: _sort_key(r, sort), reverse=order == "desc")
    return {"records": shown, "metrics": metrics, "customers": sorted({str(r.get("customer")) for r in records}),
            "branches": sorted({str(r.get("branch")) for r in records}), "total": len(records),
            "customer": customer, "branch": branch, "sort": sort, "order": order,
            "charts": [metric_chart(records, m) for m in metrics]}


def _record_json(repo: Repo, tag: str) -> dict[str, Any] | None:
    """A run record as the templates read it (a dict), or None when the tag has none."""
    record = tracking.read_record(repo, tag, _tracking_branch(repo))
    return record.to_json() if record else None


def _sort_key(record: dict[str, Any], column: str) -> tuple[int, Any]:
    value = (record.get("metrics") or {}).get(column, record.get(column))
    if value is None:
        return (0, "")
    return (1, value) if isinstance(value, int | float) else (1, str(value))


def metric_chart(records: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """A Plotly figure: the metric over time, one line per customer."""
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: str(r.get("started", ""))):
        if metric in (r.get("metrics") or {}):
            lines[str(r.get("customer"))].append(r)
    data = [{"type": "scatter", "mode": "lines+markers", "name": customer,
             "x": [r.get("started") for r in rs], "y": [r["metrics"][metric] for r in rs],
             "text": [r["tag"] for r in rs]} for customer, rs in sorted(lines.items())]
    return {"metric": metric, "figure": {"data": data, "layout": {"title": {"text": metric}, "height": 300,
                                                                  "margin": {"t": 40, "b": 40, "l": 50, "r": 10}}}}


def compare(repo: Repo, a: str, b: str) -> dict[str, Any]:
    commit_of(repo, a)
    commit_of(repo, b)
    records = {tag: _record_json(repo, tag) for tag in (a, b)}
    result = diff_refs(repo, a, b, rows=False)
    return {"a": a, "b": b, "records": records, "diff": asdict(result), "by_kind": result.by_kind()}


def data_diff(repo: Repo, a: str, b: str, path: str, key: str) -> dict[str, Any]:
    """Row-level differences of one data file between two refs (`branchml diff A B PATH`)."""
    commit_of(repo, a)
    commit_of(repo, b)
    keys = [k for k in key.split(",") if k] or None
    result = diff_refs(repo, a, b, [clean_path(path)], key=keys)
    return {"a": a, "b": b, "path": path, "key": key, "files": [asdict(f) for f in result.files]}


def releases(repo: Repo) -> dict[str, Any]:
    records = {r["tag"]: r for r in [r.to_json() for r in tracking.read_records(repo, _tracking_branch(repo))]}
    customers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for release in list_releases(repo):
        customers[release.customer].append({**release.as_dict(), "metrics": (records.get(release.tag) or {}).get("metrics", {})})
    return {"customers": sorted(customers.items())}


def tag(repo: Repo, name: str) -> dict[str, Any]:
    if plumbing.rev_parse(repo.cwd, f"refs/tags/{name}") is None:
        raise NotFound(f"no tag named {name!r}")
    details = show(repo, name).as_dict()  # the page and its JSON read the `show --json` form
    story = why(repo, name)
    return {"tag": name, "show": details, "story": story.as_dict(), "card": _model_card(repo, name)}


def _model_card(repo: Repo, ref: str) -> str | None:
    blob = blob_at(repo, ref, "MODEL_CARD.md")
    if blob is None or blob.size > MAX_CARD_BYTES:
        return None
    text = b"".join(iter_bytes(repo, blob)).decode("utf-8", "replace")
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        text = text[end + 4 :] if end != -1 else text
    return text


def branch(repo: Repo, name: str) -> dict[str, Any]:
    found = [b for b in list_branches(repo) if b.branch == name]
    if not found:
        raise NotFound(f"no branch named {name!r}")
    log = plumbing.log_records(repo.cwd, [f"refs/heads/{name}"], ["%H", "%cI", "%an", "%s"], limit=30)
    commits = [dict(zip(("commit", "date", "author", "subject"), fields)) for fields in log]
    runs_here = [r for r in [r.to_json() for r in tracking.read_records(repo, _tracking_branch(repo))] if r.get("branch") == name]
    return {"branch": found[0].to_json(), "commits": commits, "runs": runs_here}


def commit(repo: Repo, rev: str) -> dict[str, Any]:
    sha = commit_of(repo, rev)
    message, author, date = plumbing.log_records(repo.cwd, [sha], ["%B", "%an <%ae>", "%cI"], no_walk=True)[0]
    message = message.rstrip("\n")
    meta = [author, date]
    parent = plumbing.rev_parse(repo.cwd, f"{sha}^") or plumbing.empty_tree(repo.cwd)
    changes = [asdict(e) for e in plumbing.diff_tree(repo.cwd, parent, sha)][:500]
    return {"commit": sha, "message": message, "author": meta[0], "date": meta[1], "changes": changes}


def _tracking_branch(repo: Repo) -> str:
    return run_settings(repo).tracking_branch

"""Monitoring pages: per `monitor/<env>` branch, request counts per tag and the committed reports.

Logs follow the serve-and-monitor layout (`logs/<tag>/<UTC date>/<part>.jsonl`); reports are the
JSON files the alerts checks commit under `reports/`. Until a branch has them, pages say so.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from branchml.audit.content import blobs_of, iter_bytes
from branchml.errors import MalformedPointer
from branchml.fs.locate import NotFound
from branchml.git import plumbing
from branchml.monitor.check import CHECK_REPORT_FORMAT
from branchml.repo import Repo
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)

PREFIX = "refs/heads/monitor/"
COUNT_MAX_BYTES = 256 << 20  # request counts read log content up to this much per page
REPORTS_SHOWN = 50


def environments(repo: Repo) -> list[str]:
    return [ref.removeprefix(PREFIX) for ref in plumbing.for_each_ref(repo.cwd, PREFIX)]


def environment(repo: Repo, env: str) -> dict[str, Any]:
    ref = PREFIX + env
    if plumbing.rev_parse(repo.cwd, ref) is None:
        raise NotFound(f"no monitoring yet for {env!r}: there is no branch monitor/{env}")
    logs = [e for e in plumbing.ls_tree(repo.cwd, ref, ["logs/"], long=True) if e.type == "blob"]
    with plumbing.CatFile(repo.cwd) as objects:  # one process for the page, however many logs and reports
        return {"env": env, "tags": _per_tag(repo, logs, objects), "reports": _reports(repo, ref, objects)}


def _per_tag(repo: Repo, logs: list[Any], objects: plumbing.CatFile) -> list[dict[str, Any]]:
    tags: dict[str, dict[str, Any]] = defaultdict(lambda: {"files": 0, "bytes": 0, "days": set(), "requests": 0})
    budget = COUNT_MAX_BYTES
    # logs/<tag>/<date>/<part>; folders starting with "_" (logs/_labels/) are not tags. Parts with
    # the same content share one blob, and each of them counts.
    by_oid: dict[str, list[Any]] = defaultdict(list)
    for entry in logs:
        if len(entry.path.split("/")) >= 3 and not entry.path.split("/")[1].startswith("_"):
            by_oid[entry.oid].append(entry)
    for oid, found in objects.contents_many(list(by_oid)):
        body = found[1] if found else b""
        for entry in by_oid[oid]:
            budget = _count_part(repo, tags, entry.path, body, budget)
    return [{"tag": t, **r, "days": sorted(r["days"])} for t, r in sorted(tags.items())]


def _count_part(repo: Repo, tags: dict[str, dict[str, Any]], path: str, body: bytes, budget: int) -> int:
    """Add one log part to its tag's row; returns the byte budget left for counting requests."""
    parts = path.split("/")
    row = tags[parts[1]]
    row["files"] += 1
    row["days"].add(parts[2])
    pointer = _pointer(body)
    size = pointer.size if pointer else len(body)
    row["bytes"] += size
    if size > budget or row["requests"] is None:
        row["requests"] = None  # too much to count on a page load
        return budget
    pieces = repo.store.iter_file(pointer, path) if pointer else [body]
    row["requests"] += sum(piece.count(b"\n") for piece in pieces)
    return budget - size


def _pointer(body: bytes) -> Pointer | None:
    if len(body) > MAX_POINTER_SIZE or not looks_like_pointer(body):
        return None
    try:
        return parse_pointer(body)
    except MalformedPointer:
        return None


def _reports(repo: Repo, ref: str, objects: plumbing.CatFile) -> list[dict[str, Any]]:
    entries = [e for e in plumbing.ls_tree(repo.cwd, ref, ["reports/"], long=True) if e.path.endswith(".json")]
    newest = sorted(entries, key=lambda e: e.path, reverse=True)[:REPORTS_SHOWN]
    blobs = blobs_of(repo, newest, objects)
    shown = []
    for entry in newest:
        blob = blobs.get(entry.path)
        try:
            body = json.loads(b"".join(iter_bytes(repo, blob, objects))) if blob else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {"error": "not JSON"}
        if isinstance(body, dict) and isinstance(body.get("format"), int) and body["format"] > CHECK_REPORT_FORMAT:
            body = {"error": f"report format {body['format']}: this branchml reads {CHECK_REPORT_FORMAT}; upgrade branchml"}
        shown.append({"path": entry.path, "report": body, "alert": bool(body.get("alert") or body.get("alerts"))})
    return shown

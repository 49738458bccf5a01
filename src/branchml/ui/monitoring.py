"""Monitoring pages: per `monitor/<env>` branch, request counts per tag and the committed reports.

Logs follow the serve-and-monitor layout (`logs/<tag>/<UTC date>/<part>.jsonl`); reports are the
JSON files the alerts checks commit under `reports/`. Until a branch has them, pages say so.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from branchml.audit.content import blob_at, iter_bytes
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
    return {"env": env, "tags": _per_tag(repo, ref, logs), "reports": _reports(repo, ref)}


def _per_tag(repo: Repo, ref: str, logs: list[Any]) -> list[dict[str, Any]]:
    tags: dict[str, dict[str, Any]] = defaultdict(lambda: {"files": 0, "bytes": 0, "days": set(), "requests": 0})
    budget = COUNT_MAX_BYTES
    # logs/<tag>/<date>/<part>; folders starting with "_" (logs/_labels/) are not tags
    by_oid = {e.oid: e for e in logs if len(e.path.split("/")) >= 3 and not e.path.split("/")[1].startswith("_")}
    with plumbing.CatFile(repo.cwd) as objects:
        for oid, found in objects.contents_many(list(by_oid)):
            entry, body = by_oid[oid], (found[1] if found else b"")
            parts = entry.path.split("/")
            row = tags[parts[1]]
            row["files"] += 1
            row["days"].add(parts[2])
            pointer = _pointer(body)
            size = pointer.size if pointer else len(body)
            row["bytes"] += size
            if size > budget or row["requests"] is None:
                row["requests"] = None  # too much to count on a page load
                continue
            budget -= size
            pieces = repo.store.iter_file(pointer, entry.path) if pointer else [body]
            row["requests"] += sum(piece.count(b"\n") for piece in pieces)
    return [{"tag": t, **r, "days": sorted(r["days"])} for t, r in sorted(tags.items())]


def _pointer(body: bytes) -> Pointer | None:
    if len(body) > MAX_POINTER_SIZE or not looks_like_pointer(body):
        return None
    try:
        return parse_pointer(body)
    except MalformedPointer:
        return None


def _reports(repo: Repo, ref: str) -> list[dict[str, Any]]:
    entries = [e for e in plumbing.ls_tree(repo.cwd, ref, ["reports/"]) if e.path.endswith(".json")]
    shown = []
    for entry in sorted(entries, key=lambda e: e.path, reverse=True)[:REPORTS_SHOWN]:
        blob = blob_at(repo, ref, entry.path)
        try:
            body = json.loads(b"".join(iter_bytes(repo, blob))) if blob else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {"error": "not JSON"}
        if isinstance(body, dict) and isinstance(body.get("format"), int) and body["format"] > CHECK_REPORT_FORMAT:
            body = {"error": f"report format {body['format']}: this branchml reads {CHECK_REPORT_FORMAT}; upgrade branchml"}
        shown.append({"path": entry.path, "report": body, "alert": bool(body.get("alert") or body.get("alerts"))})
    return shown

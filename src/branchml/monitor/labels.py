"""Ground truth that arrives later, joined to logged queries by `request_id`.

`branchml monitor label --env prod labels.csv` commits the rows (CSV with a header, or JSON lines)
as one new part `logs/_labels/<UTC date>/<HHMMSS>-<id>.jsonl` on monitor/<env>: labels are logs
too, so they only grow. Each line: `{"format": 1, "request_id": ..., "label": ..., "ts": ...}` plus
any other columns of the input. A later label for the same request wins in `join`.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.git.cmd import Where
from branchml.monitor import stored
from branchml.monitor.branch import commit_files, list_files
from branchml.monitor.query import LogSummary, parse_since, tag_logs
from branchml.monitor.records import FORMAT, LABELS_DIR, LogRecord, branch_ref, now_iso


@dataclass(frozen=True)
class Label:
    request_id: str
    label: Any
    ts: str


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a labels file: CSV with a header, or JSON lines (`.jsonl`/`.ndjson`)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".ndjson"):
        rows = [_json_line(line, f"{path}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    for number, row in enumerate(rows, 1):
        if not row.get("request_id") or "label" not in row:
            raise BranchmlError(f"{path}: row {number} has no request_id or no label",
                                hint="give columns request_id and label (other columns are kept)")
    return rows


def _json_line(line: str, where: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BranchmlError(f"{where}: not JSON ({exc})", hint="one JSON object per line") from exc
    if not isinstance(row, dict):
        raise BranchmlError(f"{where}: not a JSON object", hint="one JSON object per line")
    return row


def _labels_line(line: str, where: str) -> dict[str, Any]:
    """One committed label line, refused when a newer branchml wrote it (docs/formats.md)."""
    row = _json_line(line, where)
    version = row.get("format", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise BranchmlError(f"{where}: label format {version!r}, this branchml reads {FORMAT}", hint="upgrade branchml")
    return row


def add_labels(cwd: Where, env: str, rows: list[dict[str, Any]], source: str) -> str:
    """Commit `rows` as one labels part on monitor/<env>; returns the commit."""
    if not rows:
        raise BranchmlError(f"{source}: no labels in it", hint="give a file with request_id,label rows")
    ts = now_iso()
    # the version is ours: an input column named `format` cannot change it
    body = "".join(json.dumps({"ts": ts, **row, "format": FORMAT}, sort_keys=True) + "\n" for row in rows)
    path = f"{LABELS_DIR}/{ts[:10]}/{time.strftime('%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.jsonl"
    message = plumbing.with_trailers(f"monitor/{env}: {len(rows)} label(s) from {Path(source).name}",
                                     [("Monitor-Labels", source)])
    return commit_files(cwd, env, {path: body.encode()}, message)


def read_labels(cwd: Where, env: str) -> dict[str, Label]:
    """request_id -> its latest label on monitor/<env>."""
    ref = branch_ref(env)
    if plumbing.rev_parse(cwd, f"{ref}^{{commit}}") is None:
        return {}
    labels: dict[str, Label] = {}
    parts = list_files(cwd, ref, LABELS_DIR)
    with plumbing.CatFile(cwd) as cat:
        for entry, (_name, found) in zip(parts, cat.contents_many(e.oid for e in parts)):
            body = b"" if found is None else stored.part_content(cwd, found[1], f"monitor/{env}:{entry.path}")
            for n, line in enumerate(body.decode().splitlines(), 1):
                row = _labels_line(line, f"monitor/{env}:{entry.path}:{n}")
                label = Label(str(row["request_id"]), row.get("label"), str(row.get("ts", "")))
                if label.request_id not in labels or labels[label.request_id].ts <= label.ts:
                    labels[label.request_id] = label
    return labels


def join(records: list[LogRecord], labels: dict[str, Label]) -> list[dict[str, Any]]:
    """Each record as a dict with `label` (None while its ground truth has not arrived)."""
    out = []
    for record in records:
        found = labels.get(record.request_id)
        out.append({**json.loads(record.to_json()), "label": None if found is None else found.label})
    return out


@dataclass(frozen=True)
class LabelsAdded:
    """What `monitor label` committed: how many labels, onto which env, in which commit."""

    env: str
    labels: int
    commit: str


def label_file(cwd: Where, env: str, path: Path) -> LabelsAdded:
    """Commit the ground truth in `path` (CSV or JSON lines with request_id and label) onto monitor/<env>."""
    rows = read_rows(path)
    return LabelsAdded(env, len(rows), add_labels(cwd, env, rows, str(path)))


@dataclass(frozen=True)
class TagLogs:
    """A tag's logged queries on one monitor branch: the branch's summary and the records themselves
    (each as its committed JSON line, with `label` when asked: docs/formats.md)."""

    summary: LogSummary
    records: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """`monitor logs --json`: the summary's fields and `records`."""
        return {**self.summary.as_dict(), "records": self.records}


def tag_records(cwd: Where, tag: str, envs: list[str] | None = None, since: str | None = None, *,
                labels: bool = False) -> list[TagLogs]:
    """Every logged query of `tag`, per monitor branch: the branch's summary and its `records`, each with
    its `label` (None until the ground truth arrives) when `labels`. `since`: 7d, 12h, 30m or an ISO date."""
    found = []
    for logs in tag_logs(cwd, tag, envs, parse_since(since)):
        if labels:
            records = join(logs.records, read_labels(cwd, logs.env))
        else:
            records = [json.loads(record.to_json()) for record in logs.records]
        found.append(TagLogs(logs.summary(), records))
    return found


def tag_summaries(cwd: Where, tag: str, since: str | None = None) -> list[LogSummary]:
    """Per monitor branch: how many records of `tag`, when, which variants (`show TAG --monitor`)."""
    return [logs.summary() for logs in tag_logs(cwd, tag, None, parse_since(since))]

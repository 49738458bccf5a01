"""`branchml monitor log`: queries logged by a server that is not ours, committed like our own.

Input: JSON lines, each an object with `features` and `prediction`, optionally `request_id`, `ts`
(ISO UTC), `variant`, `latency_ms`. The file itself is the durable copy, so records go straight to
the branch in batches (no journal); a line that is not such an object stops the import before
anything is committed, naming the line.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from branchml.errors import BranchmlError
from branchml.git.cmd import Where
from branchml.monitor.branch import commit_batch, records_batch
from branchml.monitor.records import LogRecord

BATCH = 10_000


@dataclass(frozen=True)
class QueriesImported:
    """What `monitor log` committed: how many records of `tag` onto monitor/<env>, in which commits."""

    env: str
    tag: str
    records: int
    commits: list[str]  # one per batch of BATCH records, oldest first

    def as_dict(self) -> dict[str, Any]:
        """`monitor log --json`."""
        return asdict(self)


def import_queries(cwd: Where, env: str, tag: str, path: Path) -> QueriesImported:
    records = [_record(line, tag, f"{path}:{n}") for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if line.strip()]
    if not records:
        raise BranchmlError(f"{path}: no records in it", hint="one JSON object per line with features and prediction")
    name = "import-" + uuid.uuid4().hex[:12]
    commits = [commit_batch(cwd, env, records_batch(name, start + 1, chunk))
               for start in range(0, len(records), BATCH) for chunk in [records[start:start + BATCH]]]
    return QueriesImported(env, tag, len(records), commits)


def _record(line: str, tag: str, where: str) -> LogRecord:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BranchmlError(f"{where}: not JSON ({exc})", hint="one JSON object per line") from exc
    if not isinstance(data, dict) or "features" not in data or "prediction" not in data:
        raise BranchmlError(f"{where}: needs 'features' and 'prediction'", hint="one JSON object per line with both")
    record = LogRecord(tag=tag, features=data["features"], prediction=data["prediction"],
                       variant=str(data.get("variant", "primary")), latency_ms=data.get("latency_ms"))
    if data.get("request_id"):
        record.request_id = str(data["request_id"])
    if data.get("ts"):
        record.ts = _iso(str(data["ts"]), where)
    return record


def _iso(text: str, where: str) -> str:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BranchmlError(f"{where}: ts {text!r} is not an ISO date-time", hint="e.g. 2026-11-27T10:00:00Z") from exc
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

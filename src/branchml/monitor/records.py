"""One logged query: what the model saw, what it answered, which tag and variant answered it.

Records are JSON lines (format 1, see docs/formats.md) in part files on `monitor/<env>`:
`logs/<tag>/<UTC date>/<HHMMSS>-<journal>-<first seq>.jsonl`. A part is written once by one batch
and never changed, so writers on several processes and hosts never touch the same file, and the
role rule "logs only grow" holds by construction.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from branchml.errors import BranchmlError

FORMAT = 1
LOGS_DIR = "logs"
LABELS_DIR = "logs/_labels"  # run tags start with a letter or digit, so no tag is named "_labels"
_ENV_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def now_iso() -> str:
    """UTC time with microseconds and a `Z`: sorts as text, parses everywhere."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass
class LogRecord:
    """One query and its prediction, as it is written to the monitor branch."""

    tag: str
    features: Any
    prediction: Any
    request_id: str = field(default_factory=new_request_id)
    ts: str = field(default_factory=now_iso)
    variant: str = "primary"
    latency_ms: float | None = None
    format: int = FORMAT

    def to_json(self) -> str:
        # a shallow dict, not dataclasses.asdict: that deep-copies the features on every request
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(fields, separators=(",", ":"), sort_keys=True, default=_jsonable)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> LogRecord:
        if not isinstance(data.get("format", 1), int) or data.get("format", 1) > FORMAT:
            raise BranchmlError(f"{where}: log record format {data.get('format')!r}, this branchml reads {FORMAT}",
                                hint="upgrade branchml")
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise BranchmlError(f"{where}: not a log record ({exc})", hint="fix or remove that line") from exc

    @property
    def date(self) -> str:
        return self.ts[:10]


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays (what models return) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def check_env(env: str) -> str:
    if not _ENV_OK.match(env) or ".." in env or env.endswith((".lock", ".")):
        raise BranchmlError(f"environment {env!r} is not a valid name", hint="use letters, digits, '.', '_', '-' (e.g. --env prod)")
    return env


def branch_ref(env: str) -> str:
    return f"refs/heads/monitor/{check_env(env)}"


def part_path(tag: str, date: str, journal: str, first_seq: int) -> str:
    clock = time.strftime("%H%M%S", time.gmtime())
    return f"{LOGS_DIR}/{tag}/{date}/{clock}-{journal}-{first_seq:09d}.jsonl"


def parse_lines(body: bytes, where: str) -> list[LogRecord]:
    """Every record of one part file; a line that is not a record is an error naming file and line."""
    records = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BranchmlError(f"{where}:{number}: not JSON ({exc})", hint="fix that line on the monitor branch") from exc
        records.append(LogRecord.from_dict(data, f"{where}:{number}"))
    return records

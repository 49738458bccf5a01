"""`Frame`: the rows a model is asked about, and the input schema they are checked against.

The schema is MLflow-signature-like: `{"format": 1, "columns": [{"name": ..., "type": ...}]}` with
MLflow's column types (double, float, long, integer, boolean, string). The tag commits it (the
`[serve] input_schema` file); the server refuses requests with missing, unexpected or mistyped
columns before the model sees them, naming the column and the row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

SCHEMA_FORMAT = 1
NUMBER_TYPES = ("double", "float")
INTEGER_TYPES = ("long", "integer")
TYPES = (*NUMBER_TYPES, *INTEGER_TYPES, "boolean", "string")


BAD_REQUEST = "BAD_REQUEST"
INVALID_VALUE = "INVALID_PARAMETER_VALUE"


@dataclass
class ScoringError(Exception):
    """A request we refuse: HTTP status, MLflow error code, and a message naming what is wrong."""

    status: int
    code: str
    message: str

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "message": self.message}


@dataclass(frozen=True)
class Column:
    name: str
    type: str


def parse_schema(text: bytes, where: str) -> list[Column]:
    """The columns of an input schema file; raises ValueError naming what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("format", 1), int) or data.get("format", 1) > SCHEMA_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise ValueError(f"{where}: input schema format {found!r}, this branchml reads up to {SCHEMA_FORMAT} "
                         "(upgrade branchml)")
    columns = [Column(str(c["name"]), str(c["type"])) for c in data.get("columns", [])]
    unknown = [c.type for c in columns if c.type not in TYPES]
    if unknown or not columns:
        raise ValueError(f"{where}: column types must be among {list(TYPES)} (got {unknown or 'no columns'})")
    return columns


@dataclass
class Frame:
    """Rows of values under named columns; what the tag's `predict(model, frame)` receives."""

    columns: list[str]
    rows: list[list[Any]]

    @classmethod
    def from_rows(cls, columns: list[str], rows: Any, kind: str) -> Frame:
        if not isinstance(rows, list):
            raise ScoringError(400, BAD_REQUEST, f"{kind}: rows must be a list")
        for number, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                raise ScoringError(400, BAD_REQUEST, f"{kind}: row {number} has {len(row) if isinstance(row, list) else 'no'} "
                                                     f"values for {len(columns)} columns")
        return cls(list(columns), rows)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def to_numpy(self) -> Any:
        import numpy  # heavy optional dependency: only models that want arrays pay for it

        return numpy.asarray(self.rows)

    def to_pandas(self) -> Any:
        import pandas  # type: ignore[import-untyped,import-not-found,unused-ignore]  # optional: not a dependency of branchml; install it if your predict wants it

        return pandas.DataFrame(self.rows, columns=self.columns)

    def conform(self, schema: list[Column]) -> Frame:
        """The same rows in the schema's column order, after checking names and value types."""
        names = [c.name for c in schema]
        missing = [n for n in names if n not in self.columns]
        unexpected = [c for c in self.columns if c not in names]
        if missing or unexpected:
            raise ScoringError(400, BAD_REQUEST, f"columns do not match the input schema: missing {missing[:10]}"
                                                 f"{'...' if len(missing) > 10 else ''}, unexpected {unexpected[:10]}")
        order = [self.columns.index(n) for n in names]
        rows = [[row[i] for i in order] for row in self.rows]
        for number, row in enumerate(rows):
            for column, value in zip(schema, row):
                if not _fits(value, column.type):
                    raise ScoringError(400, BAD_REQUEST, f"row {number}, column {column.name!r}: {value!r} is not a {column.type}")
        return Frame(names, rows)

    def cast_text(self, schema: list[Column]) -> Frame:
        """CSV cells are text: convert each to its column's type (unknown columns stay text)."""
        types = {c.name: c.type for c in schema}
        rows = []
        for number, row in enumerate(self.rows):
            try:
                rows.append([_cast(v, types.get(c, "string")) for c, v in zip(self.columns, row)])
            except ValueError as exc:
                raise ScoringError(400, BAD_REQUEST, f"row {number}: {exc}") from exc
        return Frame(self.columns, rows)


def _fits(value: Any, kind: str) -> bool:
    if kind in NUMBER_TYPES:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind in INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _cast(text: str, kind: str) -> Any:
    try:
        if kind in NUMBER_TYPES:
            return float(text)
        if kind in INTEGER_TYPES:
            return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a {kind}") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{text!r} is not a boolean")
        return text.lower() == "true"
    return text

"""MLflow's scoring protocol, parsed into a `Frame` and checked against the tag's input schema.

The formats are MLflow's (mlflow/pyfunc/scoring_server), so clients written for `mlflow models
serve` work unchanged: `application/json` with exactly one of `dataframe_split`,
`dataframe_records`, `instances`, `inputs`; or `text/csv` with a header row. Answers are
`{"predictions": [...]}`; errors are `{"error_code": ..., "message": ...}` with MLflow's codes
(BAD_REQUEST and INVALID_PARAMETER_VALUE: 400) or plain text for an unsupported content type (415).
Unlike MLflow we parse without pandas and name the exact column and row that is wrong.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from branchml.serve.frame import BAD_REQUEST, INVALID_VALUE, Column, Frame, ScoringError

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
def parse_request(body: bytes, content_type: str | None, schema: list[Column] | None) -> Frame:
    """The rows of a scoring request, in the schema's column order, values checked against its types."""
    mime = _mime(content_type)
    if mime == JSON_TYPE:
        frame = _from_json(_decode_json(body), schema)
    else:
        frame = _from_csv(_decode_text(body), schema)
    return frame if schema is None else frame.conform(schema)


def _mime(content_type: str | None) -> str:
    parts = [p.strip() for p in (content_type or "").split(";")]
    mime = parts[0].lower()
    params = dict(p.partition("=")[::2] for p in parts[1:] if p)
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise ScoringError(415, BAD_REQUEST, "The scoring server only supports UTF-8")
    if set(params) - {"charset"}:
        raise ScoringError(415, BAD_REQUEST, f"Unrecognized content type parameters: {', '.join(sorted(set(params) - {'charset'}))}")
    if mime not in (JSON_TYPE, CSV_TYPE):
        raise ScoringError(415, BAD_REQUEST, f"This predictor only supports the following content types: "
                                             f"{[CSV_TYPE, JSON_TYPE]}. Got {content_type!r}.")
    return mime


def _decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScoringError(400, INVALID_VALUE, f"Ensure that input is valid UTF-8: {exc}") from exc


def _decode_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(_decode_text(body))
    except json.JSONDecodeError as exc:
        raise ScoringError(400, INVALID_VALUE, f"Ensure that input is a valid JSON formatted string: {exc}") from exc
    found = [k for k in FORMATS if isinstance(data, dict) and k in data]
    if len(found) != 1:
        got = f"a {type(data).__name__}" if not isinstance(data, dict) else f"fields {sorted(data)}"
        raise ScoringError(400, BAD_REQUEST, f"The input must be a JSON dictionary with exactly one of the input "
                                             f"fields {list(FORMATS)}; received {got}")
    return {"format": found[0], "value": data[found[0]]}


def _from_json(parsed: dict[str, Any], schema: list[Column] | None) -> Frame:
    kind, value = parsed["format"], parsed["value"]
    if kind == "dataframe_split":
        return _split(value, schema)
    if kind == "dataframe_records":
        return _records(value, kind)
    return _tensor_style(value, kind, schema)


def _split(value: Any, schema: list[Column] | None) -> Frame:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ScoringError(400, BAD_REQUEST, "dataframe_split must be an object with a 'data' list (and 'columns')")
    columns = value.get("columns")
    if columns is None:
        columns = [c.name for c in schema] if schema else [str(i) for i in range(len(value["data"][0] if value["data"] else []))]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ScoringError(400, BAD_REQUEST, "dataframe_split 'columns' must be a list of names")
    return Frame.from_rows(columns, value["data"], "dataframe_split")


def _records(value: Any, kind: str) -> Frame:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ScoringError(400, BAD_REQUEST, f"{kind} must be a list of objects (one per row)")
    columns: list[str] = []
    for row in value:
        columns.extend(k for k in row if k not in columns)
    missing = [(n, c) for n, row in enumerate(value) for c in columns if c not in row]
    if missing:
        row, column = missing[0]
        raise ScoringError(400, BAD_REQUEST, f"{kind}: row {row} has no value for column {column!r}")
    return Frame(columns, [[row[c] for c in columns] for row in value])


def _tensor_style(value: Any, kind: str, schema: list[Column] | None) -> Frame:
    """`instances`/`inputs`: records, a column -> values object, or positional rows in schema order."""
    if isinstance(value, dict):
        lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise ScoringError(400, BAD_REQUEST, f"{kind}: every column must be a list of the same length")
        columns = list(value)
        return Frame(columns, [list(row) for row in zip(*(value[c] for c in columns))])
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return _records(value, kind)
    if isinstance(value, list) and all(isinstance(r, list) for r in value) and schema:
        return Frame.from_rows([c.name for c in schema], value, kind)
    raise ScoringError(400, BAD_REQUEST, f"{kind} must be a list of records, an object of columns, "
                                         "or a list of rows (in the input schema's column order)")


def _from_csv(text: str, schema: list[Column] | None) -> Frame:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ScoringError(400, BAD_REQUEST, f"Failed to parse input as CSV: {exc}") from exc
    if not rows:
        raise ScoringError(400, BAD_REQUEST, "Failed to parse input as CSV: no header row")
    frame = Frame.from_rows(rows[0], rows[1:], "text/csv")
    return frame.cast_text(schema) if schema else frame

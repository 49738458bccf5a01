"""Oracle for the streamed merge: `merge/jsonlist.py` as of ca6b526, whole documents in memory."""
from __future__ import annotations

import json
from typing import Any

from branchml.merge.outcome import Outcome
from branchml.merge.records import (
    Conflict,
    Record,
    Unmergeable,
    conflicts_of,
    describe,
    marker_block,
    merge_records,
)


def merge_jsonlist(base: bytes, ours: bytes, theirs: bytes, *, key: str | None = None, marker_size: int = 7) -> Outcome:
    if ours == theirs or base == theirs:
        return Outcome(ours, [])
    if base == ours:
        return Outcome(theirs, [])
    parsed = [_parse(data, side, key) for data, side in ((base, "base"), (ours, "ours"), (theirs, "theirs"))]
    kind = _common_kind(parsed)
    sides = [records for _, records in parsed]
    merged = merge_records(*sides)
    conflicts = conflicts_of(merged)
    if conflicts:
        what = (lambda c: f"field {c.key}") if kind == "object" else (lambda c: f"element with {key}={c.key}")
        return Outcome(_render_with_markers(merged, kind, key, marker_size), [describe(c, what(c)) for c in conflicts])
    idents = [r.ident for r in merged]  # type: ignore[union-attr]
    for data, records in ((ours, sides[1]), (theirs, sides[2])):
        if idents == [r.ident for r in records]:
            return Outcome(data, [])  # keep that side's exact bytes and layout
    values = [r.value for r in merged]  # type: ignore[union-attr]
    return Outcome(_dump(dict(values) if kind == "object" else values, like=ours), [])


def _parse(data: bytes, side: str, key: str | None) -> tuple[str | None, list[Record]]:
    """(kind, records): kind is "list", "object", or None for an empty side (add/add, empty file)."""
    if not data.strip():
        return None, []
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unmergeable(f"{side} is not valid JSON ({exc})") from None
    except RecursionError:
        raise Unmergeable(f"{side} is JSON nested too deeply to merge") from None
    if isinstance(value, dict):
        return "object", [Record((k, v), canonical([k, v]), json.dumps(k, ensure_ascii=False)) for k, v in value.items()]
    if not isinstance(value, list):
        raise Unmergeable(f"{side} is a JSON {type(value).__name__}, not a list or an object")
    return "list", [_record(item, key) for item in value]


def _common_kind(parsed: list[tuple[str | None, list]]) -> str:
    kinds = {kind for kind, _ in parsed if kind is not None}
    if len(kinds) > 1:
        raise Unmergeable("one side is a JSON list and another a JSON object")
    return kinds.pop() if kinds else "list"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _record(item: Any, key: str | None) -> Record:
    item_key = None
    if key is not None and isinstance(item, dict) and key in item:
        item_key = canonical(item[key])
    return Record(value=item, ident=canonical(item), key=item_key)


def _dump(items: list, like: bytes) -> bytes:
    """Serialise like ours: indented if ours was on several lines, compact if ours was."""
    multiline = b"\n" in like.strip()
    compact = not multiline and b", " not in like and b": " not in like and len(like.strip()) > 2
    separators = (",", ":") if compact else None
    text = json.dumps(items, indent=2 if multiline else None, separators=separators, ensure_ascii=False)
    return text.encode() + (b"\n" if like.endswith(b"\n") or not like else b"")


def _render_with_markers(merged: list, kind: str, key: str | None, marker_size: int) -> bytes:
    """One element (or field) per line, conflicts between Git-style markers: edit, then `git add`."""
    def line(record: Record, comma: bytes) -> bytes:
        if kind == "object":
            name, value = record.value
            text = json.dumps(name, ensure_ascii=False) + ": " + json.dumps(value, ensure_ascii=False)
        else:
            text = json.dumps(record.value, ensure_ascii=False)
        return b"  " + text.encode() + comma + b"\n"

    lines = [b"{\n" if kind == "object" else b"[\n"]
    for i, item in enumerate(merged):
        comma = b"," if i < len(merged) - 1 else b""
        if isinstance(item, Conflict):
            label = f"field {item.key}" if kind == "object" else f"{key}={item.key}"
            lines += marker_block(item, lambda r, comma=comma: line(r, comma), marker_size, label)
        else:
            lines.append(line(item, comma))
    lines.append(b"}\n" if kind == "object" else b"]\n")
    return b"".join(lines)

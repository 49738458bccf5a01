"""`branchml-jsonlist`: merge two versions of a JSON array (e.g. tracking records on main).

Elements are compared by value (canonical JSON). With a key (`[merge.jsonlist] key = "run"`),
objects that carry it are matched by that key, so a changed element is a change, not a new one.
"""

from __future__ import annotations

import json
from typing import Any

from branchml.merge.outcome import Outcome
from branchml.merge.records import Conflict, Record, Unmergeable, conflicts_of, describe, marker_block, merge_records


def merge_jsonlist(base: bytes, ours: bytes, theirs: bytes, *, key: str | None = None, marker_size: int = 7) -> Outcome:
    if ours == theirs or base == theirs:
        return Outcome(ours, [])
    if base == ours:
        return Outcome(theirs, [])
    sides = [_parse(data, side, key) for data, side in ((base, "base"), (ours, "ours"), (theirs, "theirs"))]
    merged = merge_records(*sides)
    conflicts = conflicts_of(merged)
    if conflicts:
        return Outcome(_render_with_markers(merged, key, marker_size), [describe(c, key, "element") for c in conflicts])
    idents = [r.ident for r in merged]  # type: ignore[union-attr]
    for data, records in ((ours, sides[1]), (theirs, sides[2])):
        if idents == [r.ident for r in records]:
            return Outcome(data, [])  # keep that side's exact bytes and layout
    return Outcome(_dump([r.value for r in merged], like=ours), [])  # type: ignore[union-attr]


def _parse(data: bytes, side: str, key: str | None) -> list[Record]:
    if not data.strip():
        return []  # no file on that side (add/add) or an empty one
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unmergeable(f"{side} is not valid JSON ({exc})") from None
    except RecursionError:
        raise Unmergeable(f"{side} is JSON nested too deeply to merge") from None
    if not isinstance(value, list):
        raise Unmergeable(f"{side} is a JSON {type(value).__name__}, not a list")
    return [_record(item, key) for item in value]


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


def _render_with_markers(merged: list, key: str | None, marker_size: int) -> bytes:
    """One element per line, conflicts between Git-style markers: the user edits, then `git add`."""
    lines = [b"[\n"]
    for i, item in enumerate(merged):
        comma = b"," if i < len(merged) - 1 else b""
        if isinstance(item, Conflict):
            render = lambda r, comma=comma: b"  " + json.dumps(r.value, ensure_ascii=False).encode() + comma + b"\n"
            lines += marker_block(item, render, marker_size, f"{key}={item.key}")
        else:
            lines.append(b"  " + json.dumps(item.value, ensure_ascii=False).encode() + comma + b"\n")
    lines.append(b"]\n")
    return b"".join(lines)


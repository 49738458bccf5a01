"""`branchml-jsonlist`: merge two versions of a JSON array (e.g. tracking records on main).

Elements are compared by value (canonical JSON). With a key (`[merge.jsonlist] key = "run"`),
objects that carry it are matched by that key, so a changed element is a change, not a new one.
Arrays stream element by element (`jsonstream`, `external`): any size merges in bounded memory.
A JSON object (e.g. one run's record) merges field by field the same way, keyed by field name, in
memory (objects are small records).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from branchml.merge import external, jsonstream
from branchml.merge.external import Rec, Source
from branchml.merge.outcome import Outcome
from branchml.merge.records import (
    Conflict,
    Merged,
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
    if streams(jsonstream.kind(data) for data in (base, ours, theirs)):
        o, a, b = (Source(side, data=data) for side, data in zip(external.SIDES, (base, ours, theirs)))
        out = io.BytesIO()
        result = merge_json_sources(o, a, b, out, key=key, marker_size=marker_size, folder=None)
        return Outcome(result.same_as.data if result.same_as else out.getvalue(), result.conflicts)
    return _merge_in_memory(base, ours, theirs, key, marker_size)


def streams(kinds: Iterator[str | None]) -> bool:
    """True when every side is a JSON array (or empty): the streamed merge applies."""
    return all(kind != "other" for kind in kinds)


def merge_json_sources(base: Source, ours: Source, theirs: Source, out: IO[bytes], *, key: str | None,
                       marker_size: int, folder: Path | None) -> external.Result:
    codec = JsonCodec(key, marker_size, jsonstream.Layout(ours.blocks()))
    return external.merge(codec, base, ours, theirs, out, folder)


def _merge_in_memory(base: bytes, ours: bytes, theirs: bytes, key: str | None, marker_size: int) -> Outcome:
    parsed = [_parse(data, side, key) for data, side in ((base, "base"), (ours, "ours"), (theirs, "theirs"))]
    kind = _common_kind(parsed)
    sides = [records for _, records in parsed]
    merged = merge_records(*sides)
    conflicts = conflicts_of(merged)
    if conflicts:
        what = "field " if kind == "object" else f"element with {key}="
        return Outcome(_render_with_markers(merged, kind, key, marker_size), [describe(c, f"{what}{c.key}") for c in conflicts])
    kept = [r for r in merged if isinstance(r, Record)]  # all of them: there is no conflict
    idents = [r.ident for r in kept]
    for data, records in ((ours, sides[1]), (theirs, sides[2])):
        if idents == [r.ident for r in records]:
            return Outcome(data, [])  # keep that side's exact bytes and layout
    values = [r.value for r in kept]
    return Outcome(_dump(dict(values) if kind == "object" else values, like=ours), [])


class JsonCodec:
    """Array elements for the external merge: identity by canonical JSON, written back like ours."""

    def __init__(self, key: str | None, marker_size: int, layout: jsonstream.Layout) -> None:
        self.key, self.marker_size, self.layout = key, marker_size, layout

    def records(self, source: Source) -> Iterator[Rec]:
        for value, offset, length in jsonstream.elements(source.blocks(), source.name):
            yield self._rec(value, offset, length)

    def load(self, source: Source, offset: int, length: int) -> Rec:
        return self._rec(json.loads(source.read_at(offset, length).decode("utf-8", "surrogatepass")), offset, length)

    def _rec(self, value: Any, offset: int, length: int) -> Rec:
        key = canonical(value[self.key]) if self.key is not None and isinstance(value, dict) and self.key in value else None
        return Rec(value, canonical(value).encode("utf-8", "surrogatepass"), key, offset, length)

    def writer(self, out: IO[bytes], conflicted: bool) -> MarkedWriter | ListWriter:
        return MarkedWriter(out, self.key, self.marker_size) if conflicted else ListWriter(out, self.layout)


class ListWriter:
    """The array serialised as `_dump` does (indented, compact or spaced, like ours), element by element."""

    def __init__(self, out: IO[bytes], layout: jsonstream.Layout) -> None:
        self.out, self.layout, self.count = out, layout, 0
        self.conflicts: list[str] = []
        self.compact = not layout.multiline and not layout.spaced and layout.length > 2

    def record(self, rec: Rec) -> None:
        if self.layout.multiline:
            text = "  " + json.dumps(rec.value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            separator = ",\n" if self.count else "[\n"
        elif self.compact:
            text = json.dumps(rec.value, separators=(",", ":"), ensure_ascii=False)
            separator = "," if self.count else "["
        else:
            text = json.dumps(rec.value, ensure_ascii=False)
            separator = ", " if self.count else "["
        self.out.write((separator + text).encode())
        self.count += 1

    def conflict(self, ours: Rec | None, theirs: Rec | None) -> None:
        raise AssertionError("a conflicted merge is written by MarkedWriter")

    def close(self) -> None:
        end = "[]" if not self.count else "\n]" if self.layout.multiline else "]"
        self.out.write(end.encode() + (b"\n" if self.layout.trailing_newline else b""))


class MarkedWriter:
    """One element per line, conflicts between Git-style markers (as `_render_with_markers`)."""

    def __init__(self, out: IO[bytes], key: str | None, marker_size: int) -> None:
        self.out, self.key, self.marker_size = out, key, marker_size
        self.conflicts: list[str] = []
        self.pending: Rec | Conflict | None = None
        out.write(b"[\n")

    def _line(self, record: Record | Rec, comma: bytes) -> bytes:
        return b"  " + json.dumps(record.value, ensure_ascii=False).encode() + comma + b"\n"

    def _flush(self, comma: bytes) -> None:
        item, self.pending = self.pending, None
        if isinstance(item, Conflict):
            render = lambda r: self._line(r, comma)
            self.out.write(b"".join(marker_block(item, render, self.marker_size, f"{self.key}={item.key}")))
        elif item is not None:
            self.out.write(self._line(item, comma))

    def record(self, rec: Rec) -> None:
        self._flush(b",")
        self.pending = rec

    def conflict(self, ours: Rec | None, theirs: Rec | None) -> None:
        self._flush(b",")
        key = ours.key if ours is not None else theirs.key if theirs is not None else None
        self.pending = Conflict(key, _as_record(ours), _as_record(theirs))
        self.conflicts.append(describe(self.pending, f"element with {self.key}={key}"))

    def close(self) -> None:
        self._flush(b"")
        self.out.write(b"]\n")


def _as_record(rec: Rec | None) -> Record | None:
    return None if rec is None else Record(rec.value, rec.ident, rec.key)


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


def _common_kind(parsed: list[tuple[str | None, list[Record]]]) -> str:
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


def _dump(items: list[Any] | dict[str, Any], like: bytes) -> bytes:
    """Serialise like ours: indented if ours was on several lines, compact if ours was."""
    multiline = b"\n" in like.strip()
    compact = not multiline and b", " not in like and b": " not in like and len(like.strip()) > 2
    separators = (",", ":") if compact else None
    text = json.dumps(items, indent=2 if multiline else None, separators=separators, ensure_ascii=False)
    return text.encode() + (b"\n" if like.endswith(b"\n") or not like else b"")


def _render_with_markers(merged: Merged, kind: str, key: str | None, marker_size: int) -> bytes:
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
            lines += marker_block(item, functools.partial(line, comma=comma), marker_size, label)
        else:
            lines.append(line(item, comma))
    lines.append(b"}\n" if kind == "object" else b"]\n")
    return b"".join(lines)

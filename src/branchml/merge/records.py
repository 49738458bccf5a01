"""Three-way merge of a list of records: the core shared by the JSON-list and rows drivers.

A record has an identity (its value, canonical) and, when a key is configured, a key.
- Keyed records merge key by key: a change on one side is taken, the same change on both sides
  is taken once, different changes on both sides (or a change against a deletion) conflict.
- Unkeyed records merge as multisets of values: what either side appended is kept, what either
  side removed is removed, an element both sides appended is kept once. They never conflict.
Order: ours' records in ours' order, then what only theirs has, in theirs' order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar


class Unmergeable(Exception):
    """Content the driver cannot merge (bad syntax, different headers or schemas): a conflict."""


@dataclass(frozen=True)
class Record:
    value: Any  # what is written back (bytes of a row, or a parsed JSON value)
    ident: Hashable  # equal idents mean equal records
    key: Hashable | None = None  # set when a key is configured and the record has it


@dataclass(frozen=True)
class Conflict:
    key: Hashable
    ours: Record | None  # None: deleted on that side
    theirs: Record | None


Merged = list[Record | Conflict]
Value = TypeVar("Value", bound=Hashable)  # what merge_counts counts: a record's ident, a row


def merge_records(base: Sequence[Record], ours: Sequence[Record], theirs: Sequence[Record]) -> Merged:
    keyed = _merge_keyed(_by_key(base, "base"), _by_key(ours, "ours"), _by_key(theirs, "theirs"))
    ours_counts = _counts(ours)
    kept = merge_counts(_counts(base), ours_counts, _counts(theirs))
    extra = Counter({ident: n - min(n, ours_counts[ident]) for ident, n in kept.items()})
    out: Merged = []
    seen_keys: set[Hashable] = set()
    for records, taken in ((ours, _first_copies(ours, kept)), (theirs, _last_copies(theirs, extra))):
        for i, record in enumerate(records):
            if record.key is None:
                if i in taken:
                    out.append(record)
            elif record.key not in seen_keys:
                seen_keys.add(record.key)
                chosen = keyed[record.key]
                if chosen is not None:
                    out.append(chosen)
    return out


def _first_copies(records: Sequence[Record], wanted: Counter[Hashable]) -> set[int]:
    """Indexes of the unkeyed records to keep: the first `wanted` copies of each value."""
    seen: Counter[Hashable] = Counter()
    taken: set[int] = set()
    for i, record in enumerate(records):
        if record.key is None and seen[record.ident] < wanted[record.ident]:
            seen[record.ident] += 1
            taken.add(i)
    return taken


def _last_copies(records: Sequence[Record], wanted: Counter[Hashable]) -> set[int]:
    """Indexes of the last `wanted` copies of each value: the copies a side appended."""
    reversed_taken = _first_copies(list(reversed(records)), wanted)
    return {len(records) - 1 - i for i in reversed_taken}


def conflicts_of(merged: Merged) -> list[Conflict]:
    return [item for item in merged if isinstance(item, Conflict)]


def _by_key(records: Sequence[Record], side: str) -> dict[Hashable, Record]:
    out: dict[Hashable, Record] = {}
    for record in records:
        if record.key is None:
            continue
        if record.key in out:
            raise Unmergeable(f"key {_show(record.key)} appears more than once in {side}")
        out[record.key] = record
    return out


def _merge_keyed(base: dict[Hashable, Record], ours: dict[Hashable, Record], theirs: dict[Hashable, Record]) -> dict[Hashable, Record | Conflict | None]:
    """Per key: the record to keep, None to drop it, or a Conflict."""
    out: dict[Hashable, Record | Conflict | None] = {}
    for key in ours.keys() | theirs.keys():
        o, a, t = base.get(key), ours.get(key), theirs.get(key)
        if _same(a, t) or _same(t, o):
            out[key] = a
        elif _same(a, o):
            out[key] = t
        else:
            out[key] = Conflict(key, a, t)
    return out


def _same(x: Record | None, y: Record | None) -> bool:
    if x is None or y is None:
        return x is y
    return x.ident == y.ident


def _counts(records: Sequence[Record]) -> Counter[Hashable]:
    return Counter(r.ident for r in records if r.key is None)


def merge_counts(base: Counter[Value], ours: Counter[Value], theirs: Counter[Value]) -> Counter[Value]:
    return Counter({ident: wanted(base[ident], ours[ident], theirs[ident]) for ident in ours.keys() | theirs.keys()})


def wanted(o: int, a: int, t: int) -> int:
    """How many copies of one value the merge keeps, from its counts in base, ours and theirs."""
    if a == o:
        return t
    if t == o:
        return a
    if a > o and t > o:
        return max(a, t)  # both appended it: once
    if a < o and t < o:
        return min(a, t)
    return a + t - o  # one side added copies, the other removed some


def _show(key: Hashable) -> str:
    return key if isinstance(key, str) else repr(key)


def marker_block(conflict: Conflict, render: Callable[[Record], bytes], marker_size: int, label: str, eol: bytes = b"\n") -> list[bytes]:
    """Git-style conflict markers around one record's two versions (`render` gives its lines)."""
    lines = [b"<" * marker_size + f" ours ({label})".encode() + eol]
    if conflict.ours is not None:
        lines.append(render(conflict.ours))
    lines.append(b"=" * marker_size + eol)
    if conflict.theirs is not None:
        lines.append(render(conflict.theirs))
    lines.append(b">" * marker_size + f" theirs ({label})".encode() + eol)
    return lines


def describe(conflict: Conflict, what: str) -> str:
    """One line for stderr: `what` names the record ("row with id=3")."""
    if conflict.ours is None or conflict.theirs is None:
        return f"{what} deleted on one side and changed on the other"
    return f"{what} changed differently on both sides"

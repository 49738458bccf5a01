"""Bucket by bucket, decide what happens to every record of ours and theirs (see `external`).

The rules are those of `records.merge_records`, applied to digests: unkeyed records by counting
copies per identity (`records.wanted`), keyed records key by key. The answer is one action byte per
record, and for a record of ours replaced by (or conflicting with) theirs' version of its key, where
theirs' version is ("pairs", bucketed by our position so they are read back one bucket at a time).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from branchml.merge.records import wanted
from branchml.merge.spill import Buckets

DROP, KEEP, SUBST, CONFLICT, GONE = range(5)  # GONE: a conflict with theirs' deletion
UNKEYED = struct.Struct("<12sBQ")  # identity, side, position
KEYED = struct.Struct("<12s12sBQQQ")  # key, identity, side, position, offset, length
PAIR = struct.Struct("<QQQ12s")  # our position, theirs' offset, length, identity


@dataclass
class Plan:
    ours: bytearray
    theirs: bytearray
    pairs: Buckets
    conflicts: int = 0
    duplicates: list[set[bytes]] = field(default_factory=lambda: [set(), set(), set()])
    _loaded: int = -1
    _table: dict[int, tuple[int, int, bytes]] = field(default_factory=dict)

    def bucket_of(self, position: int) -> int:
        return position * self.pairs.count // max(1, len(self.ours))

    def pair(self, position: int) -> tuple[int, int, bytes]:
        """Theirs' (offset, length, identity) for our record at `position`."""
        bucket = self.bucket_of(position)
        if bucket != self._loaded:
            self._table = {p: (o, n, i) for p, o, n, i in PAIR.iter_unpack(self.pairs.read(bucket))}
            self._loaded = bucket
        return self._table[position]


class Index:
    def __init__(self, count: int, folder: Path | None, held: int) -> None:
        self.count = count
        self.folder = folder
        self.held = held
        self.unkeyed = Buckets(count, folder, held)
        self.keyed = Buckets(count, folder, held)
        self.sizes = [0, 0, 0]
        self.plan: Plan | None = None

    def add_unkeyed(self, ident: bytes, side: int, position: int) -> None:
        self.unkeyed.add(ident[0] % self.count, UNKEYED.pack(ident, side, position))
        self.sizes[side] = position + 1

    def add_keyed(self, key: bytes, ident: bytes, side: int, position: int, offset: int, length: int) -> None:
        self.keyed.add(key[0] % self.count, KEYED.pack(key, ident, side, position, offset, length))
        self.sizes[side] = position + 1

    def resolve(self) -> Plan:
        plan = Plan(bytearray(self.sizes[1]), bytearray(self.sizes[2]), Buckets(self.count, self.folder, self.held))
        self.plan = plan
        for bucket in range(self.count):
            _resolve_unkeyed(self.unkeyed.read(bucket), plan)
            _resolve_keyed(self.keyed.read(bucket), plan)
        return plan

    def close(self) -> None:
        for buckets in (self.unkeyed, self.keyed) + ((self.plan.pairs,) if self.plan else ()):
            buckets.close()


def _resolve_unkeyed(entries: bytes, plan: Plan) -> None:
    """Keep the first `wanted` copies of each value in ours, and theirs' last copies beyond ours'."""
    counts: dict[bytes, list[int]] = {}
    ours, theirs = [], []
    for ident, side, position in UNKEYED.iter_unpack(entries):
        count = counts.get(ident)
        if count is None:
            count = counts[ident] = [0, 0, 0]
        count[side] += 1
        if side == 1:
            ours.append((ident, position))
        elif side == 2:
            theirs.append((ident, position))
    left = {ident: wanted(*count) for ident, count in counts.items()}
    extra = {ident: n - min(n, counts[ident][1]) for ident, n in left.items()}
    for ident, position in ours:
        if left[ident] > 0:
            left[ident] -= 1
            plan.ours[position] = KEEP
    for ident, position in reversed(theirs):
        if extra[ident] > 0:
            extra[ident] -= 1
            plan.theirs[position] = KEEP


Entry = tuple[bytes, int, int, int]  # identity, position, offset, length


def _resolve_keyed(entries: bytes, plan: Plan) -> None:
    slots: dict[bytes, list[Entry | None]] = {}
    for key, ident, side, position, offset, length in KEYED.iter_unpack(entries):
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = [None, None, None]
        if slot[side] is not None:
            plan.duplicates[side].add(key)
        slot[side] = (ident, position, offset, length)
    for o, a, t in slots.values():
        _decide(plan, o, a, t)


def _decide(plan: Plan, o: Entry | None, a: Entry | None, t: Entry | None) -> None:
    """One key: unchanged on theirs (or the same change) keeps ours, unchanged on ours takes theirs, else conflict."""
    base, mine, other = (e[0] if e else None for e in (o, a, t))
    if mine == other or other == base:
        if a is not None:
            plan.ours[a[1]] = KEEP
        return
    conflict = mine != base
    plan.conflicts += conflict
    if a is None:  # theirs' record is written at theirs' place
        assert t is not None
        plan.theirs[t[1]] = CONFLICT if conflict else KEEP
    elif t is None:  # theirs deleted it
        plan.ours[a[1]] = GONE if conflict else DROP
    else:  # at our place, theirs' version
        plan.ours[a[1]] = CONFLICT if conflict else SUBST
        plan.pairs.add(plan.bucket_of(a[1]), PAIR.pack(a[1], t[2], t[3], t[0]))

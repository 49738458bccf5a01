"""Traffic split: which tag answers a request (canary weights), and which see copies (shadows).

A caller key (a header, or a configured feature column) is hashed to a bucket in 0..9999; the
canaries take the first buckets by weight, the primary the rest. The same caller always lands on
the same variant (sticky), so a forward test (99% / 1%) and a backward test after promotion
compare stable groups. Requests without a key are hashed by their request id (random). The
`X-Branchml-Variant` header forces a variant (for tests and debugging).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from branchml.errors import BranchmlError

BUCKETS = 10_000
PRIMARY = "primary"
SHADOW = "shadow"


@dataclass(frozen=True)
class Canary:
    tag: str
    weight: float  # fraction of traffic, 0 < weight < 1

    variant = "canary"  # the record's tag tells several canaries apart


def parse_canary(text: str) -> Canary:
    """`acme-5=1%` or `acme-5=0.01`."""
    tag, sep, amount = text.partition("=")
    try:
        weight = float(amount.rstrip("%")) / (100 if amount.endswith("%") else 1)
    except ValueError:
        weight = -1.0
    if not sep or not tag or not 0 < weight < 1:
        raise BranchmlError(f"--canary {text!r}: expected TAG=PERCENT%", hint="e.g. --canary acme-5=1%")
    return Canary(tag, weight)


def bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Router:
    primary: str
    canaries: tuple[Canary, ...] = ()
    shadows: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if sum(c.weight for c in self.canaries) >= 1:
            raise BranchmlError("canary weights add up to 100% or more", hint="keep some traffic on the primary tag")

    def choose(self, key: str, forced: str | None = None) -> tuple[str, str]:
        """(variant, tag) for a caller key; `forced` is a variant name or a tag of this router."""
        if forced:
            return self._forced(forced)
        point, edge = bucket(key), 0
        for canary in self.canaries:
            edge += round(canary.weight * BUCKETS)
            if point < edge:
                return canary.variant, canary.tag
        return PRIMARY, self.primary

    def _forced(self, forced: str) -> tuple[str, str]:
        if forced in (PRIMARY, self.primary):
            return PRIMARY, self.primary
        for canary in self.canaries:
            if forced in (canary.variant, canary.tag):
                return canary.variant, canary.tag
        raise BranchmlError(f"no variant {forced!r}", hint=f"use {PRIMARY} or one of {[c.variant for c in self.canaries]}")

    @property
    def tags(self) -> list[str]:
        return [self.primary, *(c.tag for c in self.canaries), *self.shadows]

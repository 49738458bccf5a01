"""The pointer committed to Git in place of a large file: one exact encoding, parsed strictly.

    branchml pointer v1
    oid blake3:<64 lowercase hex>
    size <decimal, no leading zeros>

Three lines, each ending in LF, nothing else: under 200 bytes whatever the size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from branchml.errors import MalformedPointer

HEADER = b"branchml pointer v1\n"
PREFIX = b"branchml pointer "
MAX_POINTER_SIZE = 200
_BODY = re.compile(rb"oid blake3:([0-9a-f]{64})\nsize (0|[1-9][0-9]{0,19})\n\Z")


@dataclass(frozen=True)
class Pointer:
    oid: str  # 64 lowercase hex digits of the BLAKE3 hash of the whole file
    size: int

    def encode(self) -> bytes:
        return HEADER + b"oid blake3:%s\nsize %d\n" % (self.oid.encode(), self.size)

    @property
    def oid_bytes(self) -> bytes:
        return bytes.fromhex(self.oid)


def looks_like_pointer(data: bytes) -> bool:
    """True when data claims to be a pointer (it may still be malformed)."""
    return data.startswith(PREFIX)


def parse_pointer(data: bytes, where: str = "<input>") -> Pointer:
    """Parse a pointer strictly; anything but the exact encoding raises MalformedPointer."""
    if len(data) > MAX_POINTER_SIZE:
        raise MalformedPointer(f"{where}: pointer is {len(data)} bytes, more than {MAX_POINTER_SIZE}")
    if not data.startswith(HEADER):
        first_line = data.split(b"\n", 1)[0][:60]
        raise MalformedPointer(
            f"{where}: not a branchml v1 pointer (first line {first_line!r})",
            hint="this branchml may be older than the one that wrote it; upgrade branchml",
        )
    match = _BODY.match(data, len(HEADER))
    if match is None:
        raise MalformedPointer(
            f"{where}: malformed pointer {data[:MAX_POINTER_SIZE]!r}",
            hint="restore the file from another commit (`git checkout <commit> -- <path>`)",
        )
    size = int(match.group(2))
    if size >= 1 << 63:
        raise MalformedPointer(f"{where}: pointer size {size} is out of range")
    return Pointer(oid=match.group(1).decode(), size=size)


# What the `diff=branchml` textconv prints for a file it does not show (branchml.audit.textconv.summary);
# the clean filter recognises it so that `git blame` never stores it as a file.
_SUMMARY = re.compile(rb"branchml file\nsize (0|[1-9][0-9]{0,19})\noid blake3:[0-9a-f]{64}\n(\([^\n]*\)\n)?\Z")


def is_diff_summary(data: bytes) -> bool:
    return len(data) <= 4096 and _SUMMARY.match(data) is not None

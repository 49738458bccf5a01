"""File records whose chunks were once checked to rebuild their oid: the whole-file pass, once.

Writing a file out of the store hashes every byte twice: each chunk against its id, and the whole
file against its oid. The second pass proves something about the *record* (its chunk list, in that
order, makes the oid), not about the bytes, which the first pass already proves. So the index keeps,
for a record checked once, the BLAKE3 of its **listing**: the file's size, then each chunk's id and
raw length, in file order (`listing_digest`). A later write of the same oid whose record lists the
same chunks hashes to the same listing; each of its chunks is verified against its id as always, so
(BLAKE3 being collision resistant) the bytes written are the very bytes whose whole hash was the oid,
and the whole-file pass is skipped.

What may fill the table: a whole-file pass that matched (store/restore.py), and the local `add`,
which computes the oid from the bytes themselves while cutting them (store.py). Never a remote: a
record fetched, or planted in a pack, has no entry and gets the whole-file pass the first time.
A record whose chunks are valid but listed in another order, or another file's, makes another
listing, so it gets the whole-file pass, which refuses it. The table is a local cache like the
index: a wrong or damaged entry only costs that full pass (restore.py runs it when the listing it
met differs from the entry), and `fsck --rebuild-index` starts it afresh.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import blake3

LISTING_DOMAIN = b"branchml listing 1\0"  # a listing digest can never equal a chunk id or an oid
_LENGTH = struct.Struct("<I")


class Listing:
    """The listing digest, fed a chunk at a time (restore.py learns the lengths as it goes)."""

    def __init__(self, size: int) -> None:
        self._hash = blake3.blake3(LISTING_DOMAIN + struct.pack("<Q", size))

    def add(self, chunk_id: bytes, raw_len: int) -> None:
        self._hash.update(chunk_id + _LENGTH.pack(raw_len))

    def digest(self) -> bytes:
        return self._hash.digest()


def listing_digest(size: int, chunks: Iterable[tuple[bytes, int]]) -> bytes:
    """BLAKE3 of (size, then every chunk's id and raw length in file order), domain-separated."""
    listing = Listing(size)
    for chunk_id, raw_len in chunks:
        listing.add(chunk_id, raw_len)
    return listing.digest()

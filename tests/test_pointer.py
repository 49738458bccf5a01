"""Pointer parsing: exactly one valid encoding, everything else refused with the path named.

The table follows what Git LFS's own pointer tests check of its format (lfs/pointer_test.go and
docs/spec.md: header/version, key order, missing and extra keys, oid alphabet and length, size
syntax and range, line endings, a size cap), carried over to branchml's three-line pointer.
"""

from __future__ import annotations

import pytest

from branchml.errors import MalformedPointer
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
GOOD = f"branchml pointer v1\noid blake3:{OID}\nsize 12345\n".encode()


@pytest.mark.parametrize(
    ("text", "size"),
    [(GOOD, 12345), (GOOD.replace(b"12345", b"0"), 0), (GOOD.replace(b"12345", b"%d" % ((1 << 63) - 1)), (1 << 63) - 1)],
)
def test_the_one_valid_encoding_parses_and_encodes_back_byte_for_byte(text, size):
    pointer = parse_pointer(text)
    assert pointer == Pointer(OID, size)
    assert pointer.encode() == text


INVALID = {
    "empty": b"",
    "only the header": b"branchml pointer v1\n",
    "another version": GOOD.replace(b"v1", b"v2"),
    "a Git LFS pointer": f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n".encode(),
    "header without newline": GOOD.replace(b"v1\n", b"v1 "),
    "CRLF line endings": GOOD.replace(b"\n", b"\r\n"),
    "no final newline": GOOD[:-1],
    "a blank line after": GOOD + b"\n",
    "an extra key": GOOD + b"ext-0-foo sha256:" + OID.encode() + b"\n",
    "keys out of order": f"branchml pointer v1\nsize 12345\noid blake3:{OID}\n".encode(),
    "missing size": f"branchml pointer v1\noid blake3:{OID}\n".encode(),
    "missing oid": b"branchml pointer v1\nsize 12345\n",
    "uppercase hex": GOOD.replace(OID.encode(), OID.upper().encode()),
    "oid one digit short": GOOD.replace(OID.encode(), OID[:-1].encode()),
    "oid one digit long": GOOD.replace(OID.encode(), OID.encode() + b"0"),
    "oid not hex": GOOD.replace(OID.encode(), b"g" + OID[1:].encode()),
    "another hash": GOOD.replace(b"blake3:", b"sha256:"),
    "no hash name": GOOD.replace(b"blake3:", b""),
    "size with a leading zero": GOOD.replace(b"12345", b"012345"),
    "negative size": GOOD.replace(b"12345", b"-1"),
    "size with a plus sign": GOOD.replace(b"12345", b"+1"),
    "size in hex": GOOD.replace(b"12345", b"0x10"),
    "size not a number": GOOD.replace(b"12345", b"big"),
    "size beyond 2**63 - 1": GOOD.replace(b"12345", b"%d" % (1 << 63)),
    "size of 21 digits": GOOD.replace(b"12345", b"1" * 21),
    "two spaces before the value": GOOD.replace(b"size ", b"size  "),
    "a space after the value": GOOD.replace(b"12345\n", b"12345 \n"),
    "a leading space": b" " + GOOD,
    "a NUL byte": GOOD.replace(b"12345", b"123\x0045"),
    "longer than the cap": GOOD + b"x" * MAX_POINTER_SIZE,
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_pointer_is_refused_naming_where(case):
    with pytest.raises(MalformedPointer) as caught:
        parse_pointer(INVALID[case], "data/big.bin")
    assert "data/big.bin" in caught.value.message
    assert "pointer" in caught.value.message


def test_looks_like_pointer_claims_only_branchml_pointers():
    """What the filter and fsck take for a (possibly broken) pointer: the header prefix, nothing else."""
    claimed = {case for case, text in INVALID.items() if looks_like_pointer(text)}
    assert looks_like_pointer(GOOD)
    assert not claimed & {"empty", "a Git LFS pointer", "a leading space"}
    assert "another version" in claimed and "keys out of order" in claimed  # reported as broken, not passed through

import io
import os

import pytest

from branchml.errors import MalformedPointer
from branchml.store import Store, parse_pointer


def test_store_round_trip_and_dedup(tmp_path):
    store = Store(tmp_path / "bml")
    data = os.urandom(3 << 20)
    with store.writer() as w:
        p1 = w.add_stream(io.BytesIO(data))
    changed = bytearray(data)
    changed[1 << 20 : (1 << 20) + 100] = os.urandom(100)
    with store.writer() as w:
        p2 = w.add_stream(io.BytesIO(bytes(changed)))
    assert store.read_file(p1) == data
    assert store.read_file(p2) == bytes(changed)
    assert store.stats()["stored_bytes"] < len(data) * 1.3


def test_malformed_pointer_rejected():
    with pytest.raises(MalformedPointer):
        parse_pointer(b"branchml pointer v1\noid blake3:zz\nsize 1\n")


from hypothesis import given, settings, strategies as st


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=300_000), min_size=1, max_size=5))
def test_any_files_round_trip_and_dedup_is_exact(tmp_path_factory, blobs):
    store = Store(tmp_path_factory.mktemp("s") / "bml")
    with store.writer() as w:
        pointers = [w.add_stream(io.BytesIO(b)) for b in blobs]
        again = [w.add_bytes(b) for b in blobs]
    assert pointers == again
    for blob, pointer in zip(blobs, pointers):
        assert store.read_file(pointer) == blob and pointer.size == len(blob)
    unique = {bytes(b) for b in blobs}
    assert store.stats()["files"] == len(unique)


@settings(max_examples=60, deadline=None)
@given(
    st.binary(min_size=0, max_size=1_500_000),
    st.sampled_from(["same", "append", "truncate", "middle", "prefix", "empty"]),
    st.integers(min_value=0, max_value=2**31),
)
def test_readd_with_previous_version_hint_equals_a_full_cut(tmp_path_factory, base, change, seed):
    import random

    rng = random.Random(seed)
    data = bytearray(base)
    if change == "append":
        data += rng.randbytes(rng.randint(1, 300_000))
    elif change == "truncate":
        del data[rng.randint(0, len(data)) :]
    elif change == "middle" and data:
        at = rng.randrange(len(data))
        data[at : at + 100] = rng.randbytes(100)
    elif change == "prefix":
        data[:0] = rng.randbytes(rng.randint(1, 5000))
    elif change == "empty":
        data = bytearray()
    data = bytes(data)
    hinted = Store(tmp_path_factory.mktemp("h") / "bml")
    plain = Store(tmp_path_factory.mktemp("p") / "bml")
    with hinted.writer() as w:
        old = w.add_stream(io.BytesIO(base))
    with hinted.writer() as w:
        new_hinted = w.add_stream(io.BytesIO(data), previous=old.oid_bytes)
    with plain.writer() as w:
        new_plain = w.add_stream(io.BytesIO(data))
    assert new_hinted == new_plain
    assert hinted.read_file(new_hinted) == data
    assert hinted.file_record(new_hinted.oid).chunk_ids == plain.file_record(new_plain.oid).chunk_ids

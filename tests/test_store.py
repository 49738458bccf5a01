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

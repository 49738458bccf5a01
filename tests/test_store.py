import io
import os
import random
import threading

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc import FastCDC

from branchml.errors import MalformedPointer
from branchml.store import Store, parse_pointer
from branchml.store.store import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK, StoreWriter


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


def canonical_ids(data: bytes) -> bytes:
    """The chunk ids of one FastCDC cut over the whole file in memory: what any road must give."""
    cdc = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
    return b"".join(blake3.blake3(c.data).digest() for c in cdc.cut_buf(data))


def at_a_boundary(base: bytes, pick: int) -> int:
    """The first byte of one of base's chunks: FastCDC decides a cut with the byte after it."""
    starts = [c.offset for c in FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK).cut_buf(base)]
    return starts[pick % len(starts)]


@settings(max_examples=60, deadline=None)
@given(
    st.binary(min_size=0, max_size=1_500_000),
    st.sampled_from(["same", "append", "truncate", "middle", "prefix", "empty", "boundary", "insert"]),
    st.integers(min_value=0, max_value=2**31),
    st.sampled_from([MAX_CHUNK, MAX_CHUNK + 12345, StoreWriter.block_size]),
)
def test_readd_with_previous_version_hint_equals_a_full_cut(tmp_path_factory, base, change, seed, block):
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
    elif change == "boundary" and data:
        at = at_a_boundary(base, seed)
        data[at] ^= 0xFF
    elif change == "insert":
        at = rng.randint(0, len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 70_000))
    elif change == "prefix":
        data[:0] = rng.randbytes(rng.randint(1, 5000))
    elif change == "empty":
        data = bytearray()
    data = bytes(data)
    hinted = Store(tmp_path_factory.mktemp("h") / "bml")
    plain = Store(tmp_path_factory.mktemp("p") / "bml")
    with hinted.writer() as w:
        w.block_size = block
        old = w.add_stream(io.BytesIO(base))
    with hinted.writer() as w:
        w.block_size = block
        new_hinted = w.add_stream(io.BytesIO(data), previous=old.oid_bytes)
    with plain.writer() as w:
        new_plain = w.add_stream(io.BytesIO(data))
    assert new_hinted == new_plain
    assert hinted.read_file(new_hinted) == data
    assert hinted.file_record(new_hinted.oid).chunk_ids == plain.file_record(new_plain.oid).chunk_ids
    assert plain.file_record(new_plain.oid).chunk_ids == canonical_ids(data)
    assert hinted.file_record(old.oid).chunk_ids == canonical_ids(base)


def test_a_change_in_the_middle_of_many_blocks_is_followed_around_and_cut_only_near_it(tmp_path):
    """Re-adding 12 MiB with 64 KiB inserted in the middle, in 256 KiB blocks: the old chunks
    before and after the insertion are taken in place, the chunk list is a full cut's, and only
    the chunks around the change are new."""
    rng = random.Random(5)
    base = rng.randbytes(12 << 20)
    data = base[: 6 << 20] + rng.randbytes(64 << 10) + base[6 << 20 :]
    store = Store(tmp_path / "bml")
    with store.writer() as w:
        w.block_size = MAX_CHUNK
        old = w.add_stream(io.BytesIO(base))
    with store.writer() as w:
        w.block_size = MAX_CHUNK
        new = w.add_stream(io.BytesIO(data), previous=old.oid_bytes)
        assert w.new_bytes < 600_000
        # followed from the first block on (the previous version loads while that block is read)
        assert w.followed_bytes > len(base) - (1 << 20)
    assert store.file_record(new.oid).chunk_ids == canonical_ids(data)
    assert store.read_file(new) == data


@pytest.mark.parametrize("block", [MAX_CHUNK, StoreWriter.block_size])
def test_a_change_at_the_first_byte_of_a_chunk_moves_the_cut_before_it_as_a_full_cut_does(tmp_path, block):
    """FastCDC decides a cut with the byte after it: the old chunk before the change still matches
    byte for byte, but its end is no cut any more, so it must not be taken as it was."""
    base = random.Random(7).randbytes(3 << 20)
    data = bytearray(base)
    for pick in (3, 11, 20):
        data[at_a_boundary(base, pick)] ^= 0xFF
    store = Store(tmp_path / "bml")
    with store.writer() as w:
        old = w.add_stream(io.BytesIO(base))
    with store.writer() as w:
        w.block_size = block
        new = w.add_stream(io.BytesIO(bytes(data)), previous=old.oid_bytes)
    assert store.file_record(new.oid).chunk_ids == canonical_ids(bytes(data))
    assert store.read_file(new) == bytes(data)


def test_one_writer_keeps_every_byte_when_its_block_size_changes_between_files(tmp_path):
    """Block buffers are reused from file to file; one made for another block size is not."""
    data = random.Random(9).randbytes(3 << 20)
    store = Store(tmp_path / "bml")
    with store.writer() as w:
        w.block_size = 2 << 20
        first = w.add_stream(io.BytesIO(data))
        w.block_size = MAX_CHUNK
        second = w.add_stream(io.BytesIO(data[1:]))
        w.block_size = 2 << 20
        third = w.add_stream(io.BytesIO(data[2:]))
    assert store.read_file(first) == data
    assert store.read_file(second) == data[1:]
    assert store.read_file(third) == data[2:]
    assert store.file_record(third.oid).chunk_ids == canonical_ids(data[2:])


def test_compressed_files_read_on_many_threads_at_once_come_back_whole(tmp_path):
    """Checkout writes several files at once (checkout.WRITERS, the filter's write-ahead), each thread
    decompressing its chunks. One zstd decompressor shared by every thread gave wrong bytes under
    that concurrency (caught by BLAKE3 as "chunk ... is corrupt", so a good store looked damaged)."""
    store = Store(tmp_path / "bml")
    texts = [b"".join(b"%d,%d,station-%d\n" % (i, k, k % 7) for i in range(40_000)) for k in range(6)]
    with store.writer() as w:
        pointers = [w.add_bytes(text) for text in texts]
    assert store.stats()["stored_bytes"] < sum(map(len, texts)) / 2  # the chunks are zstd frames
    wrong: list[int] = []

    def read(k: int) -> None:
        for _ in range(15):
            try:
                if store.read_file(pointers[k]) != texts[k]:
                    wrong.append(k)
            except Exception:  # noqa: BLE001 (a misread chunk is reported as corrupt)
                wrong.append(k)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(len(texts))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert wrong == []

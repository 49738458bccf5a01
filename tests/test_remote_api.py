"""Store-level push and fetch through the Python API, on a folder remote (no Git involved)."""

from __future__ import annotations

import io
import os

import pytest

from branchml.errors import MissingObject
from branchml.remote.catalog import Catalog
from branchml.remote.download import fetch
from branchml.remote.settings import RemoteSpec
from branchml.remote.storage import RemoteStorage
from branchml.remote.upload import push_files
from branchml.store import Store
from branchml.store import store as store_module


def connect(tmp_path, store_dir, **options):
    storage = RemoteStorage(RemoteSpec("origin", str(tmp_path / "blobs"), options))
    return storage, Catalog(store_dir, storage)


def test_fetch_rebuilds_files_across_many_local_packs_and_skips_what_it_has(tmp_path, monkeypatch):
    src = Store(tmp_path / "src")
    blobs = {name: os.urandom(size) for name, size in (("a", 900_000), ("b", 400_000), ("one", 1000))}
    with src.writer() as w:
        pointers = {name: w.add_stream(io.BytesIO(data)) for name, data in blobs.items()}
    storage, catalog = connect(tmp_path, src.root, pack_size=200_000)
    report = push_files(src, storage, catalog, [p.oid_bytes for p in pointers.values()])
    assert report.new_files == 3 and report.packs >= 5

    monkeypatch.setattr(store_module, "PACK_TARGET_SIZE", 150_000)  # local packs roll over between batches
    monkeypatch.setattr("branchml.remote.download.BATCH_BYTES", 100_000)
    dst = Store(tmp_path / "dst")
    storage, catalog = connect(tmp_path, dst.root)
    got = fetch(dst, storage, catalog, [p.oid_bytes for p in pointers.values()], [])
    assert got.files == 3 and len(dst.pack_names()) > 3
    for name, pointer in pointers.items():
        assert dst.read_file(pointer) == blobs[name]
    again = fetch(dst, storage, catalog, [p.oid_bytes for p in pointers.values()], [])
    assert again.bytes == 0


def test_fetch_of_a_file_the_remote_lacks_names_the_remote(tmp_path):
    src = Store(tmp_path / "src")
    pushed = src.put_bytes(os.urandom(5000))
    storage, catalog = connect(tmp_path, src.root)
    push_files(src, storage, catalog, [pushed.oid_bytes])
    dst = Store(tmp_path / "dst")
    storage, catalog = connect(tmp_path, dst.root)
    with pytest.raises(MissingObject, match="blob remote 'origin'"):
        fetch(dst, storage, catalog, [b"\x01" * 32], [])
    assert dst.stats()["chunks"] == 0

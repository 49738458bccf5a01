"""Whole-file copies kept beside the chunk store, reflinked into work trees (`[checkout] link`).

The packs hold chunks (compressed, shared between versions), which cannot be linked into a work
tree. With `link = "reflink"`, branchml keeps one verified whole copy per file content in
`<store>/files/` and gives each checkout a copy-on-write clone of it: a file that several paths,
branches switched back and forth, or several worktrees hold costs its blocks once, and an edit in a
work tree writes new blocks, never the cached ones. Where the file system cannot clone (ext4, or
the work tree on another file system), nothing is cached and files are copied as usual.

`links.json` (format 1) records the clones made, so that `branchml stats` can say how many bytes
of the work trees share their blocks with the cache; an entry counts only while its file keeps the
inode, size and mtime it had when it was cloned.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from branchml.files import write_atomic
from branchml.store import reflink
from branchml.store.pointer import Pointer
from branchml.store.store import Store

LEDGER_FORMAT = 1


@dataclass(frozen=True)
class LinkStats:
    linked_files: int
    linked_bytes: int  # bytes of work-tree files that are clones of the cache
    cache_bytes: int  # bytes of the cached files they share
    saved_bytes: int  # what copies would have cost on top of the cache

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class FileCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.root / "files"
        self._clonable: dict[int, bool] = {}  # st_dev of a work-tree folder -> can clone from here
        self.pending: dict[str, str] = {}  # temp clone -> oid, until the caller renames it into place

    def path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid

    def clone_into(self, pointer: Pointer, target: Path, where: str) -> bool:
        """Write `target` (a new temp file) as a clone of the cached content; False: copy it instead."""
        if not self._can_clone_to(target.parent):
            return False
        cached = self._ensure(pointer, where)
        if not reflink.clone(cached, target):
            return False
        self._record(target, pointer)
        return True

    def _can_clone_to(self, folder: Path) -> bool:
        """One probe clone per file system of the work tree (cached for this process)."""
        dev = folder.stat().st_dev
        if dev not in self._clonable:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".probe"
            if not probe.exists():
                write_atomic(probe, b"branchml reflink probe\n")
            trial = folder / f".branchml-probe-{os.getpid()}"
            self._clonable[dev] = reflink.clone(probe, trial)
            trial.unlink(missing_ok=True)
        return self._clonable[dev]

    def _ensure(self, pointer: Pointer, where: str) -> Path:
        """The cached whole file, written once from verified chunks (temp file, fsync, rename)."""
        path = self.path(pointer.oid)
        if path.exists() and path.stat().st_size == pointer.size:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{pointer.oid}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as out:
                out.writelines(self.store.iter_file(pointer, where))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)  # nothing writes to it; clones get their own mode
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    # -- the ledger of clones, for `stats` ---------------------------------------------------
    @property
    def ledger(self) -> Path:
        return self.root / "links.json"

    def _read(self) -> dict[str, list[object]]:
        if not self.ledger.exists():
            return {}
        data = json.loads(self.ledger.read_text())
        if data.get("format") != LEDGER_FORMAT:
            return {}  # a newer branchml's ledger: stats only, so start afresh rather than fail
        links: dict[str, list[object]] = data["links"]
        return links

    def _record(self, target: Path, pointer: Pointer) -> None:
        """Remember the clone under the path it is about to be renamed to (the caller's final path)."""
        self.pending[str(target)] = pointer.oid

    def renamed(self, tmp: Path, final: Path) -> None:
        """The caller renamed a clone into place: record its final path and stat data."""
        oid = self.pending.pop(str(tmp), None)
        if oid is None:
            return
        st = final.stat()
        links = self._read()
        links[str(final)] = [oid, st.st_size, st.st_ino, st.st_mtime_ns]
        write_atomic(self.ledger, json.dumps({"format": LEDGER_FORMAT, "links": links}).encode())

    def stats(self) -> LinkStats:
        linked, size, oids = 0, 0, set()
        for path, (oid, length, ino, mtime) in self._read().items():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if (st.st_size, st.st_ino, st.st_mtime_ns) == (length, ino, mtime) and self.path(str(oid)).exists():
                linked, size = linked + 1, size + st.st_size
                oids.add(str(oid))
        cache = sum(self.path(o).stat().st_size for o in oids)
        return LinkStats(linked, size, cache, max(0, size - cache))

    def prune(self, live: set[str]) -> int:
        """Remove cached files whose content nothing reaches any more (gc); returns bytes freed."""
        freed = 0
        for path in self.root.glob("??/*"):
            if path.name not in live and not path.name.startswith("."):
                freed += path.stat().st_size
                path.unlink()
        return freed

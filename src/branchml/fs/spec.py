"""`branchml://<ref>/<path>`: an fsspec filesystem over any branch, tag or commit, without a checkout.

Registered through the `fsspec.specs` entry point, so `pandas.read_csv("branchml://main/x.csv")`
needs no import. The repository is the current directory's, or `repo=` in storage options. Reads are
ranged (only the chunks that cover a range are read or fetched); writes buffer to a temporary file
and become one commit on the branch when the file is closed (`message=`, `source=` for the
`Data-Source` trailer), refused with the role rule's message where the branch's role forbids them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.transaction import Transaction

from branchml.audit.content import Blob, blob_at, blobs_of
from branchml.fs.locate import Location, NotFound, open_repo, split_ref_path
from branchml.fs.reader import RangeReader
from branchml.fs.remote_repo import RemoteRefs, is_url
from branchml.fs.writer import Change, commit_changes
from branchml.git import plumbing


class BranchmlTransaction(Transaction):  # type: ignore[misc]  # fsspec is untyped
    """`with fs.transaction:` -- every file written inside becomes part of one commit per branch."""

    def complete(self, commit: bool = True) -> None:
        files: list[BranchmlFile] = list(self.files)
        self.files.clear()
        fs: Any = self.fs  # type: ignore[has-type]  # set by fsspec's untyped Transaction
        try:
            if commit:
                by_branch: dict[str, list[Change]] = {}
                for f in files:
                    by_branch.setdefault(f.where.ref, []).append(Change(f.where.path, f.spooled))
                for branch, changes in by_branch.items():
                    first = files[0]
                    message = first.message or f"Write {len(changes)} file(s)"
                    commit_changes(fs.repo, branch, changes, message, first.source)
        finally:
            for f in files:
                f.discard()
            fs._intrans = False
            fs._transaction = None
            self.fs = None


class BranchmlFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    protocol = "branchml"
    root_marker = ""
    transaction_type = BranchmlTransaction

    def __init__(self, repo: str | None = None, message: str | None = None, source: str | None = None, **kwargs: Any) -> None:
        """`repo`: a folder of the repository (default: the current one) or a Git URL (read-only, each ref
        fetched shallow on first use); `message` and `source`:
        the commit message and `Data-Source` trailer of writes (also accepted by `open`)."""
        super().__init__(**kwargs)
        self.remote = RemoteRefs(repo) if repo and is_url(repo) else None
        self.repo = open_repo(self.remote.repo.cwd if self.remote else repo)
        self.message, self.source = message, source

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = path.removeprefix("branchml://")
        return path.rstrip("/")

    def locate(self, path: str) -> Location:
        path = self._strip_protocol(path)
        if self.remote is not None:
            self.remote.ensure(path)
        return split_ref_path(self.repo, path)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        where = self.locate(path)
        entries = plumbing.ls_tree(self.repo.cwd, where.commit, [where.path + "/"] if where.path else [], recursive=False, long=True)
        if not entries:
            info = self.info(path)
            return [info] if detail else [info["name"]]
        with plumbing.CatFile(self.repo.cwd) as objects:  # one process for the folder, not two per file
            blobs = blobs_of(self.repo, entries, objects)
        found = [self._entry(where.ref, e, blobs.get(e.path)) for e in entries]
        return found if detail else [f["name"] for f in found]

    @staticmethod
    def _entry(ref: str, entry: plumbing.TreeEntry, blob: Blob | None) -> dict[str, Any]:
        """A listing row; a tracked file's size is its content's (the pointer's), not the pointer's own."""
        name = f"{ref}/{entry.path}"
        if entry.type != "blob":
            return {"name": name, "type": "directory", "size": 0}
        return {"name": name, "type": "file", "size": blob.size if blob else entry.size}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        where = self.locate(path)
        if not where.path:
            return {"name": where.ref, "type": "directory", "size": 0}
        blob = blob_at(self.repo, where.commit, where.path)
        if blob is not None:
            return {"name": f"{where.ref}/{where.path}", "type": "file", "size": blob.size,
                    "oid": blob.pointer.oid if blob.pointer else None, "commit": where.commit}
        if plumbing.ls_tree(self.repo.cwd, where.commit, [where.path + "/"], recursive=False):
            return {"name": f"{where.ref}/{where.path}", "type": "directory", "size": 0}
        raise NotFound(f"{where.ref} has no file or folder {where.path!r}")

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict[str, Any] | None = None, **kwargs: Any) -> BranchmlFile:
        return BranchmlFile(self, path, mode, block_size or 1 << 20, autocommit, cache_options=cache_options, **kwargs)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        where = self.locate(path)
        blob = blob_at(self.repo, where.commit, where.path)
        if blob is None:
            raise NotFound(f"{where.ref} has no file {where.path!r}")
        reader = RangeReader(self.repo, blob)
        return reader.read(start or 0, reader.size if end is None else end)

    def rm_file(self, path: str, message: str | None = None, **kwargs: Any) -> None:
        if self.remote is not None:
            raise PermissionError(f"{self.remote.url} is read here: write in a clone of it")
        where = self.locate(path)
        commit_changes(self.repo, where.ref, [Change(where.path, None)], message or f"Remove {where.path}")

    def _rm(self, path: str) -> None:
        self.rm_file(path)


class BranchmlFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec is untyped
    """Reads ranges through RangeReader; writes spool to a temporary file and commit on close."""

    def __init__(self, fs: BranchmlFileSystem, path: str, mode: str, block_size: int, autocommit: bool,
                 message: str | None = None, source: str | None = None, **kwargs: Any) -> None:
        self.where = fs.locate(path)
        if mode != "rb" and fs.remote is not None:
            raise PermissionError(f"{fs.remote.url} is read here: write in a clone of it")
        self.message, self.source = message or fs.message, source or fs.source
        self.reader: RangeReader | None = None
        size = None
        if mode == "rb":
            blob = blob_at(fs.repo, self.where.commit, self.where.path)
            if blob is None:
                raise NotFound(f"{self.where.ref} has no file {self.where.path!r}")
            self.reader = RangeReader(fs.repo, blob)
            size = blob.size
        super().__init__(fs, path, mode, block_size, autocommit, size=size, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        assert self.reader is not None
        return self.reader.read(start, end)

    def _initiate_upload(self) -> None:
        # open across _upload_chunk calls, closed and removed on the final one
        self.spool = tempfile.NamedTemporaryFile(prefix="branchml-fs-", delete=False)  # noqa: SIM115

    def _upload_chunk(self, final: bool = False) -> bool:
        self.spool.write(self.buffer.getvalue())
        if final:
            self.spool.close()
            self.spooled = Path(self.spool.name)
            if self.autocommit:  # else the transaction commits every file together
                try:
                    message = self.message or f"Write {self.where.path}"
                    commit_changes(self.fs.repo, self.where.ref, [Change(self.where.path, self.spooled)], message, self.source)
                finally:
                    self.discard()
        return True

    def discard(self) -> None:
        spooled = getattr(self, "spooled", None)
        if spooled is not None:
            spooled.unlink(missing_ok=True)

    def commit(self) -> None:
        """Committed by BranchmlTransaction.complete, all files of a transaction at once."""

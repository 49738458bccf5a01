"""A blob remote's storage through fsspec: atomic uploads, listings and ranged reads.

Every final name is a content hash, so two pushers of the same data write identical objects and
need no lock. An upload never leaves a partial object under its final name: object stores (S3...)
publish an object only when its single PUT (or multipart upload) completes; file systems (a local
folder, SFTP) get the bytes under `tmp/` first and a rename into place.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from branchml.errors import BranchmlError, ExitCode
from branchml.remote.settings import OBJECT_STORES, RETRIES, RemoteSpec

FORMAT_NAME = "branchml-remote"
FORMAT_LINE = b"branchml-remote 1\n"


class RemoteError(BranchmlError):
    """The blob remote cannot be reached, refuses us, or holds something unexpected."""

    exit_code = ExitCode.REMOTE_FAILED


def _is_timeout(exc: BaseException) -> bool:
    """A timeout, whatever the transport calls it (botocore's ReadTimeoutError, asyncio's, the socket's)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, TimeoutError) or "Timeout" in type(cause).__name__:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _open_filesystem(spec: RemoteSpec) -> tuple[Any, str]:
    """fsspec's file system for the URL; SSH through ours, which checks known_hosts (remote/sftp.py)."""
    if spec.protocol in ("ssh", "sftp"):
        try:
            from branchml.remote.sftp import (
                sftp_filesystem,  # imports paramiko (extra `remote`): only for SSH remotes
            )
        except ImportError as exc:
            raise RemoteError(f"blob remote {spec.name!r} ({spec.url}) needs paramiko: {exc}",
                              hint="pip install 'branchml[remote]'") from exc

        label = f"blob remote {spec.name!r} ({spec.url})"
        return sftp_filesystem(spec.url, spec.storage_options(), label, spec.connect_timeout, spec.read_timeout)
    from fsspec.core import (
        url_to_fs,  # optional extra `remote`: loaded on first remote access
    )

    fs, root = url_to_fs(spec.url, **spec.storage_options())
    return fs, str(root)


class RemoteStorage:
    def __init__(self, spec: RemoteSpec) -> None:
        self.spec = spec
        self.atomic_put = spec.protocol in OBJECT_STORES
        with self.errors("connect to"):
            self.fs, self.root = _open_filesystem(spec)
        if spec.protocol in ("s3", "s3a"):
            self.fs.retries = RETRIES  # s3fs retries timeouts on top of botocore's own (a class attribute, 5)
        self.root = self.root.rstrip("/")
        self.on_upload: Callable[[str], None] = lambda path: None

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn whatever the transport raises into one clear error naming the remote; say so when it is slow."""
        notice = threading.Timer(min(10.0, self.spec.read_timeout / 2), self._still_waiting, (action,))
        notice.daemon = True
        notice.start()
        try:
            yield
        except BranchmlError:
            raise
        except Exception as exc:  # transports raise anything: OSError, botocore, asyncssh...
            if _is_timeout(exc):
                raise RemoteError(
                    f"blob remote {self.spec.name!r} ({self.spec.url}): cannot {action}: no answer within "
                    f"{self.spec.connect_timeout:g} s to connect / {self.spec.read_timeout:g} s to reply "
                    f"({type(exc).__name__})",
                    hint=f"check that the endpoint is up; on a slow link raise the limits: "
                    f"`branchml remote add {self.spec.name} {self.spec.url} --option read_timeout=300 --option connect_timeout=60`",
                ) from exc
            raise RemoteError(
                f"blob remote {self.spec.name!r} ({self.spec.url}): cannot {action}: {type(exc).__name__}: {exc}",
                hint="check the network and your credentials (environment, ~/.aws, ~/.ssh), "
                "then retry; `branchml remote list` shows the remote's settings",
            ) from exc
        finally:
            notice.cancel()

    def _still_waiting(self, action: str) -> None:
        """Progress for a silent wait: one line, so a hung endpoint is never a silent hang."""
        sys.stderr.write(f"branchml: blob remote {self.spec.name!r} ({self.spec.url}): still waiting to {action} "
                         f"(each request gives up after {self.spec.read_timeout:g} s without an answer)\n")
        sys.stderr.flush()

    # -- layout ------------------------------------------------------------------------------
    def check_format(self, create: bool) -> bool:
        """True when the remote holds a branchml layout (creating it when `create`)."""
        marker = self.path(FORMAT_NAME)
        with self.errors("read"):
            if self.fs.exists(marker):
                if self.fs.cat_file(marker) != FORMAT_LINE:
                    raise RemoteError(f"blob remote {self.spec.name!r}: {marker} is not a branchml v1 remote")
                return True
            if not create:
                return False
            if not self.atomic_put:
                self.fs.makedirs(self.path("tmp"), exist_ok=True)
            self.put_bytes(FORMAT_NAME, FORMAT_LINE)
        return True

    def list_indexes(self) -> list[str]:
        """Hashes of every index object on the remote (one listing)."""
        with self.errors("list"):
            self.fs.invalidate_cache()
            try:
                names = self.fs.ls(self.path("indexes"), detail=False)
            except FileNotFoundError:
                return []
        out = []
        for name in names:
            base = name.rstrip("/").rsplit("/", 1)[-1]
            if base.endswith(".idx") and len(base) == 68:
                out.append(base[:-4])
        return out

    def read_index(self, name: str) -> bytes:
        return self.read_indexes([name])[name]

    def read_indexes(self, names: list[str]) -> dict[str, bytes]:
        """Several index objects in one call (fetched concurrently by async transports such as S3)."""
        if not names:
            return {}
        paths = [self.path("indexes", f"{name}.idx") for name in names]
        with self.errors(f"read {len(names)} index(es)"):
            found = self.fs.cat(paths, on_error="raise")  # a list of paths gives a dict
        return {path.rsplit("/", 1)[-1].removesuffix(".idx"): data for path, data in found.items()}

    def has_pack(self, name: str) -> bool:
        with self.errors("check"):
            exists: bool = self.fs.exists(self.path("packs", f"{name}.pack"))
            return exists

    def read_ranges(self, pack: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Bytes of [start, end) ranges of one pack, fetched together."""
        path = self.path("packs", f"{pack}.pack")
        with self.errors(f"read pack {pack[:16]}…"):
            data: list[bytes] = self.fs.cat_ranges(
                [path] * len(ranges), [s for s, _ in ranges], [e for _, e in ranges], on_error="raise"
            )
            return data

    # -- uploads -----------------------------------------------------------------------------
    def staging_dir(self) -> Path | None:
        """For a remote on a local file system: its tmp/ folder, where a pack can be built in place
        and renamed into packs/ (one write instead of a build plus a copy). None otherwise."""
        from fsspec.implementations.local import (
            LocalFileSystem,  # optional extra `remote`: loaded on first remote access
        )

        if not isinstance(self.fs, LocalFileSystem):
            return None
        path = Path(self.path("tmp"))
        with self.errors("prepare"):
            path.mkdir(parents=True, exist_ok=True)
        return path

    def upload_pack(self, local: Path, name: str) -> None:
        final = self.path("packs", f"{name}.pack")
        if self.staging_dir() is not None and local.parent == Path(self.path("tmp")):
            with self.errors(f"publish packs/{name}.pack"):
                self.fs.makedirs(self.path("packs"), exist_ok=True)
                os.replace(local, final)  # built in the remote's tmp/: publish by rename
            self.on_upload(f"packs/{name}.pack")
            return
        self._upload(f"packs/{name}.pack", lambda target: self.fs.put_file(str(local), target))

    def put_bytes(self, relative: str, data: bytes) -> None:
        self._upload(relative, lambda target: self.fs.pipe_file(target, data))

    def _upload(self, relative: str, send: Callable[[str], None]) -> None:
        final = self.path(relative)
        with self.errors(f"upload {relative}"):
            if self.atomic_put:
                send(final)
            else:
                tmp = self.path("tmp", f"{secrets.token_hex(8)}-{os.getpid()}.part")
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                send(tmp)
                self.fs.mv(tmp, final)
        self.on_upload(relative)

    def delete(self, relative: str) -> None:
        with self.errors(f"delete {relative}"):
            self.fs.rm_file(self.path(relative))

    def publish(self) -> None:
        """Every upload is visible when it returns here (the Git remote batches its own: gitrefs.py)."""

    def close(self) -> None:
        """Nothing to release (fsspec keeps its own connection pools)."""

    # -- what remote gc asks ------------------------------------------------------------------
    def read_optional(self, relative: str) -> bytes | None:
        with self.errors(f"read {relative}"):
            if not self.fs.exists(self.path(relative)):
                return None
            data: bytes = self.fs.cat_file(self.path(relative))
            return data

    def modified(self, relative: str) -> float:
        """When the object was written (seconds since the epoch)."""
        with self.errors(f"read the age of {relative}"):
            return float(self.fs.modified(self.path(relative)).timestamp())

    def stale_parts(self, grace_seconds: float) -> list[str]:
        """Parts of killed uploads in tmp/ older than the grace period (file-system remotes)."""
        with self.errors("list tmp/"):
            try:
                entries = self.fs.ls(self.path("tmp"), detail=True)
            except FileNotFoundError:
                return []
            now = time.time()
            return [e["name"] for e in entries if e.get("type") == "file"
                    and now - self.fs.modified(e["name"]).timestamp() >= grace_seconds]

    def remove_part(self, name: str) -> None:
        with self.errors("delete a stale upload"):
            self.fs.rm_file(name)


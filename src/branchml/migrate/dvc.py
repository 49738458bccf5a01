"""DVC projects in: the outputs of `.dvc` files and `dvc.lock` stages become tracked files in Git.

Formats (DVC 2 and 3): a `.dvc` file or a `dvc.lock` stage lists `outs`, each with a `path`
(relative to the file's folder), an `md5` (`<hash>.dir` for a folder, whose manifest in the cache is
a JSON list of `{"md5", "relpath"}`) and, in DVC 3, `hash: md5`. The cache is
`.dvc/cache/files/md5/<2>/<rest>` (DVC 3) or `.dvc/cache/<2>/<rest>` (DVC 2). DVC 3 md5s are of the
raw bytes and are checked; DVC 2 hashed text files after dos2unix, so those are stored unchecked.

In the rewritten history each output is a branchml pointer at its path, the `.dvc` files are gone,
the `/<output>` lines DVC wrote into `.gitignore` are removed, and `dvc.yaml`/`dvc.lock` stay (they
describe the pipeline).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from branchml.errors import BranchmlError, CorruptObject, MissingObject
from branchml.git import plumbing
from branchml.migrate.convert import Converter
from branchml.migrate.rewrite import filter_repo
from branchml.repo import Repo
from branchml.store.store import StoreWriter


@dataclass(frozen=True)
class DvcOut:
    path: str  # repository-relative
    md5: str  # `<hex>` or `<hex>.dir`
    checked: bool  # DVC 3: md5 of the raw bytes

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def is_dvc_file(path: str) -> bool:
    return path.endswith(".dvc") or posixpath.basename(path) == "dvc.lock"


def parse_outs(path: str, data: bytes) -> list[DvcOut]:
    """The cached outputs a `.dvc` file or `dvc.lock` declares (paths made repository-relative)."""
    try:
        doc = yaml.safe_load(data) or {}
    except yaml.YAMLError as exc:
        raise BranchmlError(f"{path}: not valid YAML ({exc})", hint="fix that commit first; nothing was rewritten") from exc
    entries = doc.get("outs", []) if path.endswith(".dvc") else [
        out for stage in (doc.get("stages") or {}).values() for out in stage.get("outs", [])]
    base = posixpath.dirname(path)
    outs = []
    for out in entries:
        if isinstance(out, dict) and out.get("md5") and out.get("cache", True):
            rel = posixpath.normpath(posixpath.join(base, out["path"]))
            outs.append(DvcOut(rel, str(out["md5"]), out.get("hash") == "md5"))
    return outs


def cache_file(root: Path, md5: str) -> Path:
    """Where DVC keeps content `md5` (DVC 3 layout first, then DVC 2's)."""
    new = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    return new if new.exists() else root / ".dvc" / "cache" / md5[:2] / md5[2:]


def dir_entries(root: Path, out: DvcOut) -> list[tuple[str, str]]:
    """(relpath, md5) of a folder output, from its manifest in the cache."""
    manifest = cache_file(root, out.md5)
    if not manifest.exists():
        raise MissingObject(f"{out.path}: DVC folder manifest {out.md5} is not in {root / '.dvc' / 'cache'}",
                            hint="run `dvc fetch --all-commits` (needs the DVC remote), then migrate again")
    return [(entry["relpath"], entry["md5"]) for entry in json.loads(manifest.read_text())]


def missing_content(root: Path, outs: list[DvcOut]) -> list[tuple[str, str]]:
    """(path, md5) of outputs (or folder members) whose content is not in the local cache."""
    missing = []
    for out in outs:
        if not cache_file(root, out.md5).exists():
            missing.append((out.path, out.md5))
        elif out.is_dir:
            missing += [(f"{out.path}/{rel}", md5) for rel, md5 in dir_entries(root, out)
                        if not cache_file(root, md5).exists()]
    return missing


def history_outs(repo: Repo, dvc_files: list[tuple[str, str]]) -> list[DvcOut]:
    """Every output the given (path, blob) `.dvc`/`dvc.lock` versions declare."""
    outs: dict[DvcOut, None] = {}
    with plumbing.CatFile(repo.cwd) as cat:
        for path, blob in dvc_files:
            outs.update(dict.fromkeys(parse_outs(path, cat.blob(blob))))
    return list(outs)


class _Md5Reader:
    def __init__(self, file: Any) -> None:
        self.file = file
        self.digest = hashlib.md5(usedforsecurity=False)

    def readinto(self, buffer: memoryview) -> int:
        n: int = self.file.readinto(buffer)
        self.digest.update(buffer[:n])
        return n


def _attr_line(out: DvcOut) -> bytes:
    escaped = "".join("\\" + c if c in "*?[]\\ " else c for c in out.path)
    return f"/{escaped}{'/**' if out.is_dir else ''} filter=branchml diff=branchml -text\n".encode()


@dataclass
class DvcImport(Converter):
    outs: list[DvcOut] = field(default_factory=list)
    writer: StoreWriter | None = None
    name: str = "dvc outputs -> branchml pointers"
    pointers: dict[str, int] = field(default_factory=dict)  # md5 -> blob mark of its pointer
    by_file: dict[str, set[DvcOut]] = field(default_factory=dict)  # .dvc path -> outputs seen

    def __post_init__(self) -> None:
        self.root_lines = sorted({_attr_line(o) for o in self.outs})

    def detect(self, path: str, size: int, small: bytes | None) -> bool:
        return is_dvc_file(path)

    def convert(self, path: str, data: bytes) -> bytes:
        return data  # the .dvc file itself is dropped by rewrite_commit; dvc.lock stays as it is

    def ignores(self, path: str, data: bytes) -> bytes:
        folder = posixpath.dirname(path)
        ours = {"/" + posixpath.relpath(o.path, folder or ".") for o in self.outs
                if posixpath.dirname(o.path) == folder}
        lines = data.splitlines(keepends=True)
        return b"".join(line for line in lines if line.strip().decode(errors="replace") not in ours)

    def rewrite_commit(self, changes: list[Any], insert: Callable[[bytes], int]) -> list[Any]:
        fr = filter_repo()
        out: list[Any] = []
        with plumbing.CatFile(self.repo.cwd) as cat:
            for change in changes:
                path = change.filename.decode(errors="surrogateescape")
                if not is_dvc_file(path):
                    out.append(change)
                    continue
                for old in self.by_file.get(path, set()):
                    out.append(fr.FileChange(b"D", old.path.encode()))
                if change.type == b"M":
                    outs = parse_outs(path, cat.blob(change.blob_id.decode()))
                    self.by_file.setdefault(path, set()).update(outs)
                    out += [c for o in outs for c in self._files_of(fr, o, insert)]
                if posixpath.basename(path) == "dvc.lock":
                    out.append(change)  # the pipeline's record stays; `.dvc` files go
        return out

    def _files_of(self, fr: Any, out: DvcOut, insert: Callable[[bytes], int]) -> list[Any]:
        root = self.repo.root
        assert root is not None
        if not out.is_dir:
            return [fr.FileChange(b"M", out.path.encode(), self._pointer(out.path, out.md5, out.checked, insert), b"100644")]
        return [fr.FileChange(b"M", f"{out.path}/{rel}".encode(), self._pointer(f"{out.path}/{rel}", md5, out.checked, insert),
                              b"100644") for rel, md5 in dir_entries(root, out)]

    def _pointer(self, path: str, md5: str, checked: bool, insert: Callable[[bytes], int]) -> int:
        if md5 not in self.pointers:
            assert self.repo.root is not None and self.writer is not None
            source = cache_file(self.repo.root, md5)
            if not source.exists():
                raise MissingObject(f"{path}: DVC cache object {md5} is missing",
                                    hint="run `dvc fetch --all-commits`, then migrate again; nothing was rewritten")
            with open(source, "rb") as file:
                reader = _Md5Reader(file)
                pointer = self.writer.add_stream(reader)
            if checked and reader.digest.hexdigest() != md5:
                raise CorruptObject(f"{path}: DVC cache object {md5} does not match its md5 ({reader.digest.hexdigest()})",
                                    hint="`dvc fetch --all-commits` it again; nothing was rewritten")
            self.pointers[md5] = insert(pointer.encode())
        return self.pointers[md5]

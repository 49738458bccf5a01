"""Files of a tag read straight from Git objects (and the chunk store for tracked files): no checkout.

`TreeImporter` makes the tag's inference code importable from its tree: the entry file becomes a
module of a package private to that tag and commit, so relative imports (`from .features import f`)
find the tag's own files, and two tags served side by side (canary) never share modules.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
from types import ModuleType

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.store.pointer import looks_like_pointer, parse_pointer


class TagFiles:
    """Read files of one commit; tracked (pointer) files come back as their real bytes, verified."""

    def __init__(self, repo: Repo, tag: str, commit: str) -> None:
        self.repo = repo
        self.tag = tag
        self.commit = commit
        self._cat = plumbing.CatFile(repo.cwd)

    def get(self, path: str) -> bytes | None:
        found = self._cat.contents(f"{self.commit}:{path}")
        if found is not None and looks_like_pointer(found):
            pointer = parse_pointer(found, f"{self.tag}:{path}")
            data: bytes = self.repo.store.read_file(pointer)  # verified against its BLAKE3 oid
            return data
        return found

    def require(self, path: str, what: str) -> bytes:
        data = self.get(path)
        if data is None:
            raise BranchmlError(f"{self.tag} has no file {path} ({what})", hint=f"check [serve] in branchml.toml at {self.tag}")
        return data

    def close(self) -> None:
        self._cat.close()


class TreeImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `<package>.<name>` as `<folder>/<name>.py` (or a sub-package) in a tag's tree."""

    def __init__(self, files: TagFiles, folder: str) -> None:
        self.files = files
        self.folder = folder.strip("/")
        self.package = "branchml_tag_" + re.sub(r"\W", "_", files.tag) + "_" + files.commit[:12]

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == self.package:
            return importlib.util.spec_from_loader(fullname, self, origin=f"{self.files.tag}:{self.folder}/", is_package=True)
        if not fullname.startswith(self.package + "."):
            return None
        rel = fullname[len(self.package) + 1:].replace(".", "/")
        for candidate, is_package in ((f"{rel}.py", False), (f"{rel}/__init__.py", True)):
            where = f"{self.folder}/{candidate}" if self.folder else candidate
            if self.files.get(where) is not None:
                return importlib.util.spec_from_loader(fullname, self, origin=f"{self.files.tag}:{where}", is_package=is_package)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        origin = module.__spec__.origin if module.__spec__ else None
        if not origin or origin.endswith("/"):
            return  # the package itself: empty
        path = origin.split(":", 1)[1]
        code = compile(self.files.require(path, "inference code"), origin, "exec")
        module.__file__ = origin
        exec(code, module.__dict__)  # noqa: S102 (the tag's own code, trusted like its training script

    def load(self, module_file: str) -> ModuleType:
        """Import `module_file` (relative to the folder) from the tag's tree."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
        name = module_file.removesuffix(".py").replace("/", ".")
        return importlib.import_module(f"{self.package}.{name}")

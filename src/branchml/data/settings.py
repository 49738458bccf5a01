"""The `[data]` table of branchml.toml: where data lives on data branches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from branchml import config
from branchml.errors import BranchmlError
from branchml.repo import Repo


@dataclass(frozen=True)
class DataSettings:
    """Folders inside the work tree, each a clean relative path (see `repo_folder`)."""

    dir: str  # what `data pull` copies by default, and where splits go
    uploads: str  # where `data add` puts each upload
    reports: str  # where `data clean` commits its reports


def data_settings(repo: Repo) -> DataSettings:
    """[data] from this work tree's branchml.toml (plus local.toml), every path checked."""
    cfg = config.load(repo.root, repo.store_dir)
    table = {**config.DEFAULTS["data"], **cfg.get("data", {})}
    folder = {key: repo_folder(str(value), f"branchml.toml [data] {key}") for key, value in table.items()}
    return DataSettings(folder["dir"], folder["uploads"], folder["reports"])


def repo_folder(path: str, what: str) -> str:
    """`path` as a clean relative folder inside the work tree, or a clear error."""
    clean = PurePosixPath(path.replace("\\", "/").strip("/"))
    if not path.strip("/") or clean.is_absolute() or ".." in clean.parts or clean.parts[0] == ".git":
        raise BranchmlError(f"{what} {path!r} is not a folder inside the repository", hint="use a relative path such as data/uploads")
    return str(clean)

"""Shared set-up of the remote tests: a project with tracked data, a bare Git server, digests."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from conftest import bml, git

TRACKED = ("data/**", "models/**")


def project(tmp: Path, blob_url: str, *, name: str = "proj", options: tuple[str, ...] = ()) -> Path:
    """A branchml repo tracking data/ and models/, with blob remote `origin` and Git remote `origin`."""
    path = tmp / name
    bml(tmp, "init", str(path))
    bml(path, "track", *TRACKED)
    bml(path, "remote", "add", "origin", blob_url, *[a for o in options for a in ("--option", o)])
    server = tmp / f"{name}-server.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(server))
    git(path, "remote", "add", "origin", str(server))
    git(path, "add", ".")
    git(path, "commit", "-qm", "set up branchml with a blob remote")
    return path


def write_random(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def digests(root: Path, subs: tuple[str, ...] = ("data", "models")) -> dict[str, str]:
    out = {}
    for sub in subs:
        for p in sorted((root / sub).rglob("*")) if (root / sub).exists() else []:
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def remote_objects(folder: Path) -> list[Path]:
    return sorted(p for sub in ("packs", "indexes") for p in (folder / sub).glob("*") if p.is_file())


def no_wrong_bytes(path: Path) -> bool:
    """True when a file that could not be fetched was left out, or left as its pointer."""
    return not path.exists() or path.read_bytes().startswith(b"branchml pointer v1\n")


def push_and_drop_a_branch(repo: Path) -> None:
    """Push a branch with data of its own, then delete it on the Git server: a fresh clone's
    `remote gc` finds that data dead."""
    git(repo, "switch", "-qc", "junk")
    write_random(repo / "data" / "junk.bin", 200_000, 999)
    commit_all(repo, "junk")
    git(repo, "push", "-q", "origin", "junk")
    git(repo, "push", "-q", "origin", "--delete", "junk")
    git(repo, "switch", "-q", "-")

"""The gateway's keys: a local, uncommitted file in the store's folder, created on first use.

Requests are verified against these keys (SigV4); the secret never leaves this file, which is
readable by its owner only. The key's user is the author of the commits its writes make.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from branchml.errors import BranchmlError
from branchml.git import cmd
from branchml.repo import Repo


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    user_name: str
    user_email: str


def credentials_path(repo: Repo) -> Path:
    return repo.store_dir / "gateway" / "credentials.json"


def load_or_create(repo: Repo) -> Credentials:
    path = credentials_path(repo)
    if path.exists():
        try:
            return Credentials(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise BranchmlError(f"{path} is not a gateway credentials file ({exc})",
                                hint="delete it and run `branchml gateway credentials` for new keys") from None
    found = Credentials("BML" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                        cmd.config_get("user.name", repo.cwd) or "branchml gateway",
                        cmd.config_get("user.email", repo.cwd) or "gateway@branchml.invalid")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(found), out, indent=2)
    return found

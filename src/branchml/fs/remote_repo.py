"""`branchml://` over another repository (`repo=<git-url>`): each ref is fetched shallow on first use.

The refs are learned with one `git ls-remote`; the ref a path names (the longest prefix that is a
branch or tag of the remote) is fetched with `--depth 1` into a bare cache repository per URL (the
release cache's set-up: the remote's default branch names the blob remote). A filesystem instance
fetches each ref once, so what it reads is the ref as it was at first use; a new instance sees new
commits. Such a filesystem is read-only.
"""

from __future__ import annotations

import hashlib
import re

from branchml.fs.locate import NotFound
from branchml.git import porcelain
from branchml.repo import Repo
from branchml.runs.release_cache import bare_repo, cache_root

_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")


def is_url(text: str) -> bool:
    return "://" in text or bool(_SCP.match(text))


class RemoteRefs:
    """A cache repository for `url` that fetches the refs paths name, once each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.repo: Repo = bare_repo(url, cache_root() / "fs" / (hashlib.sha256(url.encode()).hexdigest()[:20] + ".git"))
        self._names: dict[str, str] | None = None
        self._fetched: set[str] = set()

    def names(self) -> dict[str, str]:
        """Short name -> full ref of every branch and tag of the remote."""
        if self._names is None:
            refs = [ref for _, ref in porcelain.ls_remote(self.repo.cwd, self.url, heads=True, tags=True)]
            self._names = {r.removeprefix("refs/heads/").removeprefix("refs/tags/"): r for r in refs}
        return self._names

    def ensure(self, path: str) -> None:
        """Fetch the ref at the start of `path` (the longest prefix that names one), if not yet done."""
        parts = path.strip("/").split("/")
        for cut in range(len(parts), 0, -1):
            full = self.names().get("/".join(parts[:cut]))
            if full is None:
                continue
            if full not in self._fetched:
                porcelain.fetch(self.repo.cwd, "origin", [f"+{full}:{full}"], depth=1)
                self._fetched.add(full)
            return
        raise NotFound(f"{self.url} has no branch or tag at the start of {path!r}")

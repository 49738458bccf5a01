"""Log parts through the chunk store: what `git add` would do with them on the monitor branch.

A monitor branch is a branch like any other, so its large files travel like any other's: content in
the chunk store (pushed to the blob remote by the pre-push hook, fetched on checkout), a pointer in
Git. A part is stored that way when

- the branch tip routes its path to branchml's filter (`.gitattributes` says `filter=branchml`,
  e.g. after `branchml track 'logs/**'` there): then exactly as the filter would, parts under
  `[store] inline_below` bytes stay inline; or
- it is at least `[monitor] store_above` bytes (default 1 MiB): then it is named `*.stored.jsonl`
  and, if the branch does not route that name to the filter yet, the same commit adds the
  `.gitattributes` line that does, so `git switch` materialises the part instead of its pointer.

Everything else (the common case: batches of a few hundred KiB) stays an ordinary Git blob.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from branchml import config
from branchml.git import plumbing
from branchml.git.cmd import Where
from branchml.git.treeattrs import attribute_values
from branchml.repo import Repo
from branchml.settings import MonitorSettings, StoreSettings
from branchml.store.pointer import looks_like_pointer, parse_pointer

ATTRIBUTES = ".gitattributes"
STORED_SUFFIX = ".stored.jsonl"
ROUTE = f"logs/**/*{STORED_SUFFIX} filter=branchml diff=branchml merge=branchml-rows\n"
ROUTE_COMMENT = "# branchml monitor: log parts of at least [monitor] store_above bytes live in the chunk store\n"


@dataclass(frozen=True)
class Blobs:
    """Blob ids to add to the tree, path -> oid (pointers for stored parts, `.gitattributes` if changed)."""

    oids: dict[str, str]
    stored: list[str]  # the paths whose content went to the chunk store


def part_blobs(cwd: Where, tip: str | None, files: Mapping[str, bytes]) -> Blobs:
    """Git blobs for `files` on a branch whose tip is `tip` (None: a new branch).

    A large part the branch does not route to the filter is renamed `<name>.stored.jsonl` and only
    that name is routed: routing every `*.jsonl` would make Git see the ordinary blobs committed
    before as modified (the filter would clean them into pointers)."""
    repo = Repo.find(cwd)
    settings = config.load(repo.root, repo.store_dir)
    inline_below = StoreSettings.from_config(settings).inline_below
    store_above = MonitorSettings.from_config(settings).store_above
    renamed = {p: stored_name(p) for p in files}
    routed = attribute_values(repo.cwd, [*files, *renamed.values()], "filter", tip) if tip else {}
    contents: dict[str, bytes] = {}
    to_store: list[str] = []
    for path, data in files.items():
        if routed.get(path) == "branchml":
            contents[path] = data
            to_store += [path] if len(data) >= inline_below else []
        elif len(data) >= store_above:
            contents[renamed[path]] = data
            to_store.append(renamed[path])
        else:
            contents[path] = data
    if to_store:
        with repo.store.writer() as writer:
            contents.update({path: writer.add_bytes(contents[path]).encode() for path in to_store})
    if any(routed.get(p) != "branchml" for p in to_store):
        contents[ATTRIBUTES] = _with_route(cwd, tip)
    return Blobs({path: plumbing.hash_object(cwd, data) for path, data in contents.items()}, to_store)


def stored_name(path: str) -> str:
    """`logs/t/d/x.jsonl` -> `logs/t/d/x.stored.jsonl` (the name `.gitattributes` routes to the filter)."""
    return path if path.endswith(STORED_SUFFIX) else path.removesuffix(".jsonl") + STORED_SUFFIX


def _with_route(cwd: Where, tip: str | None) -> bytes:
    """The tip's `.gitattributes` plus the line routing log parts to the filter."""
    with plumbing.CatFile(cwd) as cat:
        current = cat.contents(f"{tip}:{ATTRIBUTES}") if tip else None
    text = (current or b"").decode()
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + ROUTE_COMMENT + ROUTE).encode()


def part_content(cwd: Where, blob: bytes, where: str) -> bytes:
    """What a part holds: the blob itself, or for a part kept in the chunk store its content (fetched
    from the blob remote when this clone lacks it, if the caller's store has a fetcher)."""
    if not looks_like_pointer(blob):
        return blob
    data: bytes = Repo.find(cwd).store.read_file(parse_pointer(blob, where))
    return data

"""ListObjectsV2 over refs and trees: keys are `<ref>/<path>`, sizes are the files' real sizes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from branchml.fs.locate import NotFound, split_ref_path
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.store.pointer import MAX_POINTER_SIZE, looks_like_pointer, parse_pointer


@dataclass(frozen=True)
class ObjectEntry:
    key: str
    size: int
    etag: str


def keys_under(repo: Repo, prefix: str) -> list[ObjectEntry] | list[str]:
    """Objects whose key starts with `prefix` when it names a ref, else the ref names (as `<ref>/`)."""
    try:
        where = split_ref_path(repo, prefix.rstrip("/")) if "/" in prefix else None
    except NotFound:
        where = None
    if where is None:
        refs = plumbing.for_each_ref(repo.cwd, "refs/heads/") + plumbing.for_each_ref(repo.cwd, "refs/tags/")
        names = [r.removeprefix("refs/heads/").removeprefix("refs/tags/") + "/" for r in refs]
        return sorted(n for n in names if n.startswith(prefix) or prefix.startswith(n))
    folder = os.path.dirname(where.path) if where.path and not prefix.endswith("/") else where.path
    entries = [e for e in plumbing.ls_tree(repo.cwd, where.commit, [folder + "/"] if folder else [], long=True) if e.type == "blob"]
    sizes = _real_sizes(repo, [e.oid for e in entries if (e.size or 0) <= MAX_POINTER_SIZE])
    return [ObjectEntry(f"{where.ref}/{e.path}", sizes.get(e.oid, e.size or 0), e.oid) for e in entries]


def _real_sizes(repo: Repo, oids: list[str]) -> dict[str, int]:
    sizes = {}
    with plumbing.CatFile(repo.cwd) as objects:
        for oid, found in objects.contents_many(oids):
            if found and looks_like_pointer(found[1]):
                try:
                    sizes[oid] = parse_pointer(found[1]).size
                except ValueError:
                    continue
    return sizes


def list_objects(repo: Repo, prefix: str, delimiter: str, after: str, limit: int) -> tuple[list[ObjectEntry], list[str], str | None]:
    """(objects, common prefixes, next continuation key) in S3's order and grouping."""
    found = keys_under(repo, prefix)
    objects: list[ObjectEntry] = []
    prefixes: set[str] = set()
    for item in found:
        key = item if isinstance(item, str) else item.key
        if not key.startswith(prefix) and not (isinstance(item, str) and prefix.startswith(key)):
            continue
        rest = key[len(prefix):] if key.startswith(prefix) else ""
        if isinstance(item, str) or (delimiter and delimiter in rest):
            cut = rest.find(delimiter) if delimiter else -1
            if delimiter and cut >= 0:
                prefixes.add(prefix + rest[: cut + 1])
            continue
        objects.append(item)
    ordered = sorted([(o.key, o) for o in objects] + [(p, p) for p in prefixes], key=lambda pair: pair[0])
    ordered = [pair for pair in ordered if pair[0] > after]
    page, more = ordered[:limit], len(ordered) > limit
    out_objects = [o for _, o in page if isinstance(o, ObjectEntry)]
    out_prefixes = [p for _, p in page if isinstance(p, str)]
    return out_objects, out_prefixes, (page[-1][0] if more and page else None)

"""`branchml remote migrate FROM TO`: copy what a set of refs needs from one blob remote to another.

A team starts with one remote (a folder, the Git remote, an SSH server) and moves to another (object
storage) when it outgrows it. The copy goes remote to remote through this machine, without the local
store: records are read from FROM in coalesced ranges, each one checked (a chunk's BLAKE3 after
decompression, a file record's checksum) before it is packed for TO, and uploaded with push's rules
(remote/upload.py): chunk packs first, file records last, every index after its pack.

- Idempotent: TO's indexes say what it holds; only what it lacks is copied (a second run copies
  nothing). Resumable: a killed run leaves whole packs with their indexes (kept) and at most a pack
  without index or a part in tmp/ (reused or removed by `remote gc`), so running it again finishes.
- Verified: afterwards TO's indexes are read again and must list every file and chunk the refs need,
  and (unless `read_back=False`) every one of those records is downloaded from TO and checked.
- FROM and TO are blob remote names, or URLs typed by the user (trusted: they are the user's own
  words). Nothing is configured: the user points the repository at TO afterwards (the report's hint).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from branchml.errors import CorruptObject, MissingObject
from branchml.git import plumbing
from branchml.pointers import PointerBlob, file_oids, rev_list_pointers
from branchml.remote import settings
from branchml.remote.catalog import Catalog
from branchml.remote.connection import Connection, connect
from branchml.remote.download import locate, read_plan, read_records, remote_file_chunks
from branchml.remote.gc import refuse_if_locked
from branchml.remote.settings import RemoteConfigError, RemoteSpec
from branchml.remote.storage import RemoteStorage
from branchml.remote.upload import PushReport, arm_kill_switch, upload_records
from branchml.repo import Repo
from branchml.store import leftovers
from branchml.store.pack import KIND_CHUNK, KIND_FILE
from branchml.store.records import RawRecord, is_valid

DEFAULT_REFS = ["--branches", "--tags", "--remotes"]
Advance = Callable[[int], None]


@dataclass
class MigrationReport:
    source: str  # remote name or URL
    target: str
    target_url: str
    files: int = 0  # files the refs need
    copied_files: int = 0  # file records uploaded to TO by this run
    copied_chunks: int = 0
    packs: int = 0  # packs uploaded by this run
    bytes: int = 0
    packs_present: int = 0  # packs a killed run had uploaded without their index: only the index was written
    verified_records: int = 0  # records of TO downloaded and checked after the copy (0: read_back off)
    verified_bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def migrate(repo: Repo, source: str, target: str, refs: list[str], *, read_back: bool = True,
            advance: Advance = lambda n: None) -> MigrationReport:
    """Copy to `target` every file record and chunk that `refs` (default: every branch, tag and
    remote-tracking branch) need and it lacks, from `source`; then verify `target` holds them all."""
    pointers = rev_list_pointers(repo, refs or DEFAULT_REFS)
    from_spec, to_spec = resolve(repo, source), resolve(repo, target)
    if from_spec.url == to_spec.url:
        raise RemoteConfigError(f"FROM and TO are the same blob remote ({to_spec.url})",
                                hint="`branchml remote list` shows the remotes and their URLs")
    with ExitStack() as stack:
        src = stack.enter_context(connect(repo, spec=from_spec))
        dst = stack.enter_context(connect(repo, spec=to_spec))
        report = MigrationReport(source, target, to_spec.url, files=len(file_oids(pointers)))
        _copy(repo, src, dst, pointers, report, advance)
        _verify(dst, pointers, report, read_back)
    return report


def resolve(repo: Repo, name: str) -> RemoteSpec:
    """A configured blob remote by name, else a URL or folder path the user typed."""
    loaded = settings.load(repo)
    if name in {s.name for s in loaded.specs} | set(loaded.problems):
        return loaded.choose(name)
    if name in plumbing.remote_names(repo.cwd):  # a Git remote: its refs/branchml/ (remote/gitrefs.py)
        return settings.git_remote_spec(repo, name)
    if "://" in name or name.startswith(("/", ".", "~")):
        url = name if "://" in name else str(Path(name).expanduser().resolve())
        return settings.parse_spec(name, {"url": url}, "remote migrate")
    known = ", ".join(s.name for s in loaded.specs) or "none"
    raise RemoteConfigError(f"no blob remote named {name!r} (configured: {known})",
                            hint="name a remote from `branchml remote list`, or give a URL (s3://..., ssh://..., /path)")


def _copy(repo: Repo, src: Connection, dst: Connection, pointers: list[PointerBlob], report: MigrationReport,
          advance: Advance) -> None:
    oids = file_oids(pointers)
    dst.storage.check_format(create=True)
    refuse_if_locked(dst.storage)  # a gc on TO could delete what we rely on
    dst.catalog.refresh(require_data=False)
    src.catalog.refresh()
    files = dst.catalog.missing(oids, KIND_FILE)
    _refuse_unavailable(src, pointers, files)
    chunk_lists = remote_file_chunks(src.storage, src.catalog, src_has(src.catalog, oids))  # records checked
    wanted = list(dict.fromkeys(cid for chunks in chunk_lists.values() for cid in chunks))
    chunks = dst.catalog.missing(wanted, KIND_CHUNK)  # of files TO lists too: a gc may have left gaps
    if not files and not chunks:
        return
    local_tmp = repo.store.root / "tmp"
    leftovers.reclaim(local_tmp)
    local_tmp.mkdir(parents=True, exist_ok=True)
    pushed = PushReport(dst.spec.name)
    arm_kill_switch(dst.storage)
    upload_records(dst.storage, dst.catalog, checked_records(src, chunks, KIND_CHUNK), local_tmp, pushed, advance)
    upload_records(dst.storage, dst.catalog, checked_records(src, files, KIND_FILE), local_tmp, pushed, advance)
    report.copied_files, report.copied_chunks = pushed.new_files, pushed.new_chunks
    report.packs, report.bytes, report.packs_present = pushed.packs, pushed.bytes, pushed.packs_present


def src_has(catalog: Catalog, oids: list[bytes]) -> list[bytes]:
    absent = set(catalog.missing(oids, KIND_FILE))
    return [oid for oid in oids if oid not in absent]


def _refuse_unavailable(src: Connection, pointers: list[PointerBlob], files: list[bytes]) -> None:
    """Files TO lacks and FROM does not have either: name them before copying anything."""
    lacking = set(src.catalog.missing(files, KIND_FILE))
    if not lacking:
        return
    paths = sorted({p.path for p in pointers if p.pointer.oid_bytes in lacking})
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    raise MissingObject(
        f"blob remote {src.spec.name!r} ({src.spec.url}) lacks {len(lacking)} file(s) the refs need: {shown}",
        hint=f"push them there first from a clone that has them (`branchml push {src.spec.name}`), "
        "or migrate fewer refs (`--refs main`)",
    )


def checked_records(conn: Connection, ids: list[bytes], kind: bytes) -> Iterator[RawRecord]:
    """The records `ids` of one kind, read from `conn` in coalesced ranges, each one checked."""
    for pack, batch in read_plan(locate(conn.catalog, ids, kind).values()):
        for raw in read_records(conn.storage, pack, batch):
            if not is_valid(raw):
                raise _damaged(conn.storage, pack, raw)
            yield raw


def _damaged(storage: RemoteStorage, pack: str, raw: RawRecord) -> CorruptObject:
    what = "chunk" if raw.kind == KIND_CHUNK else "file record"
    return CorruptObject(
        f"blob remote {storage.spec.name!r} ({storage.spec.url}): {what} {raw.id.hex()[:16]}… in pack "
        f"{pack[:16]}… does not match its id (damaged or tampered with); nothing of it was copied",
        hint="push that content again from a clone that has it (`branchml push`), then migrate again",
    )


def _verify(dst: Connection, pointers: list[PointerBlob], report: MigrationReport, read_back: bool) -> None:
    """TO, read afresh, must list every record the refs need; with `read_back`, each is downloaded and checked."""
    oids = file_oids(pointers)
    dst.catalog.refresh(require_data=bool(oids))
    files = dst.catalog.lookup(oids, KIND_FILE)
    if len(files) < len(oids):
        raise MissingObject(f"blob remote {dst.spec.name!r} ({dst.spec.url}) still lacks "
                            f"{len(oids) - len(files)} file(s) after the copy", hint="run the migration again")
    chunk_lists = remote_file_chunks(dst.storage, dst.catalog, oids)
    chunks = list(dict.fromkeys(cid for ids in chunk_lists.values() for cid in ids))
    if dst.catalog.missing(chunks, KIND_CHUNK):
        raise MissingObject(f"blob remote {dst.spec.name!r} ({dst.spec.url}) still lacks chunks after the copy",
                            hint="run the migration again")
    if read_back:
        for raw in _all_checked(dst, chunks, oids):
            report.verified_records += 1
            report.verified_bytes += len(raw.payload)


def _all_checked(conn: Connection, chunks: list[bytes], oids: list[bytes]) -> Iterable[RawRecord]:
    yield from checked_records(conn, chunks, KIND_CHUNK)
    yield from checked_records(conn, oids, KIND_FILE)

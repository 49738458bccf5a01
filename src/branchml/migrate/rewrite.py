"""One migration: plan (the dry run), backup refs, the git-filter-repo run, notes, verification.

git-filter-repo rewrites the given refs (annotated tags included) in one fast-export/fast-import
pass; our file-info callback gives each changed file its new content. fast-import updates refs only
when the stream completes, so a converter that fails leaves every ref as it was.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from branchml.errors import BranchmlError
from branchml.git import plumbing, porcelain
from branchml.migrate.convert import PEEK, Converter
from branchml.migrate.history import BACKUP, FileVersion, history_files, small_contents
from branchml.repo import Repo

ATTRIBUTES = ".gitattributes"


@dataclass
class Report:
    refs: list[str]
    changes: list[FileVersion]
    dry_run: bool
    backups: list[str] = field(default_factory=list)
    notes_copied: int = 0
    verified_files: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"format": 1, "refs": self.refs, "changes": [c.as_dict() for c in self.changes], "dry_run": self.dry_run,
                "backups": self.backups, "notes_copied": self.notes_copied, "verified_files": self.verified_files}


def plan(repo: Repo, refs: list[str], converter: Converter) -> list[FileVersion]:
    """The file versions of `refs`' history that the migration changes (one path per blob)."""
    files = history_files(repo, refs)
    small = small_contents(repo, files, PEEK)
    return sorted((f for f in files if converter.detect(f.path, f.size, small.get(f.blob))), key=lambda f: f.path)


def migrate(repo: Repo, refs: list[str], converter: Converter, *, dry_run: bool) -> Report:
    report = Report(refs, plan(repo, refs, converter), dry_run)
    if dry_run or not report.changes:
        return report
    require_clean(repo)
    report.backups = backup(repo, refs)
    try:
        commit_map = run_filter_repo(repo, refs, converter)
    except BaseException:
        drop_backups(repo, report.backups)  # refs were not touched: fast-import never completed
        raise
    report.notes_copied = copy_notes(repo, commit_map)
    return report


def require_clean(repo: Repo) -> None:
    if repo.root is None:
        return
    dirty = porcelain.status_porcelain(repo.cwd, untracked="no")
    if dirty:
        raise BranchmlError(f"the work tree has changes ({dirty.splitlines()[0].strip()} ...): a migration rewrites "
                            "the checked-out branch", hint="commit or stash them first (`git stash`)")


def backup(repo: Repo, refs: list[str]) -> list[str]:
    """Keep every ref's old value under refs/original/ (create-only: an earlier backup is never lost)."""
    existing = [BACKUP + r for r in refs if plumbing.rev_parse(repo.cwd, BACKUP + r)]
    if existing:
        raise BranchmlError(f"backup refs of an earlier migration exist: {', '.join(existing[:3])}",
                            hint="check that migration, then delete them: "
                                 "`git for-each-ref --format='delete %(refname)' refs/original/ | git update-ref --stdin`")
    made = []
    for ref in refs:
        old = plumbing.rev_parse(repo.cwd, ref)
        if old is None:
            raise BranchmlError(f"{ref} does not exist", hint="name existing branches or tags")
        plumbing.update_ref(repo.cwd, BACKUP + ref, old, old=None, message="branchml migrate: backup")
        made.append(BACKUP + ref)
    return made


def drop_backups(repo: Repo, backups: list[str]) -> None:
    for ref in backups:
        plumbing.delete_ref(repo.cwd, ref)


def run_filter_repo(repo: Repo, refs: list[str], converter: Converter) -> dict[str, str]:
    """Rewrite `refs` through git-filter-repo; returns old commit -> new commit."""
    fr = filter_repo()
    args = fr.FilteringOptions.parse_args(["--force", "--quiet", "--replace-refs", "delete-no-add", "--refs", *refs])
    holder: dict[str, Any] = {}
    callbacks = _Callbacks(converter, lambda data: _insert_blob(holder["filter"], fr, data))
    holder["filter"] = repo_filter = fr.RepoFilter(args, file_info_callback=callbacks.on_file,
                                                   commit_callback=callbacks.on_commit)
    where = repo.root or repo.git_dir
    with contextlib.chdir(where), contextlib.redirect_stdout(sys.stderr):
        try:
            repo_filter.run()
        except BaseException:
            _stop(repo_filter)
            raise
    return _collect_commit_map(repo)


def filter_repo() -> Any:
    """The git-filter-repo module (an optional extra: only migrations need it)."""
    try:
        import git_filter_repo  # optional extra `migrate`
    except ModuleNotFoundError as exc:
        raise BranchmlError("git-filter-repo is not installed", hint="pip install 'branchml[migrate]'") from exc
    return git_filter_repo


def _insert_blob(repo_filter: Any, fr: Any, data: bytes) -> int:
    blob = fr.Blob(data)
    repo_filter.insert(blob)
    return int(blob.id)


def _stop(repo_filter: Any) -> None:
    """Kill fast-export and fast-import so that fast-import never sees a complete stream."""
    for name in ("_fip", "_fep"):
        proc = getattr(repo_filter, name, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class _Callbacks:
    def __init__(self, converter: Converter, insert: Callable[[bytes], int]) -> None:
        self.converter = converter
        self.insert = insert
        self.done: dict[bytes, Any] = {}  # original blob -> new blob mark (the same blob converts once)
        self.root_blob: int | None = None

    def on_file(self, filename: bytes, mode: bytes, blob_id: Any, value: Any) -> tuple[bytes, bytes | None, Any]:
        if mode not in (b"100644", b"100755") or not isinstance(blob_id, bytes):
            return filename, mode, blob_id
        path = filename.decode(errors="surrogateescape")
        size = value.get_size_by_identifier(blob_id)
        small = value.get_contents_by_identifier(blob_id) if size <= PEEK else None
        if path == ATTRIBUTES or path.endswith("/" + ATTRIBUTES):
            data = small if small is not None else value.get_contents_by_identifier(blob_id)
            new = self.converter.attributes(data)
            new = _with_lines(new, self.converter.root_lines) if path == ATTRIBUTES else new
            if not new and data:
                return filename, None, blob_id  # emptied by the export: it was ours, so it goes
            return filename, mode, blob_id if new == data else value.insert_file_with_contents(new)
        if path == ".gitignore" or path.endswith("/.gitignore"):
            data = small if small is not None else value.get_contents_by_identifier(blob_id)
            new = self.converter.ignores(path, data)
            return filename, mode, blob_id if new == data else value.insert_file_with_contents(new)
        if not self.converter.detect(path, size, small):
            return filename, mode, blob_id
        if blob_id not in self.done:
            data = small if small is not None else value.get_contents_by_identifier(blob_id)
            new = self.converter.convert(path, data)
            self.done[blob_id] = blob_id if new == data else value.insert_file_with_contents(new)
        return filename, mode, self.done[blob_id]

    def on_commit(self, commit: Any, metadata: Any) -> None:
        """Converters may add or drop files; every commit keeps `root_lines` in its top-level
        .gitattributes (added where it had none)."""
        commit.file_changes = self.converter.rewrite_commit(commit.file_changes, self.insert)
        if not self.converter.root_lines:
            return
        fr = filter_repo()
        changes = [c for c in commit.file_changes if c.filename != ATTRIBUTES.encode() or c.type != b"D"]
        touched = any(c.filename == ATTRIBUTES.encode() for c in changes)
        deleted = len(changes) != len(commit.file_changes)
        if (not commit.parents and not touched) or deleted:
            if self.root_blob is None:
                self.root_blob = self.insert(_with_lines(b"", self.converter.root_lines))
            changes.append(fr.FileChange(b"M", ATTRIBUTES.encode(), self.root_blob, b"100644"))
        commit.file_changes = changes


def _with_lines(text: bytes, lines: list[bytes]) -> bytes:
    present = set(text.splitlines(keepends=True))
    missing = [line for line in lines if line not in present]
    if missing and text and not text.endswith(b"\n"):
        text += b"\n"
    return text + b"".join(missing)


def _collect_commit_map(repo: Repo) -> dict[str, str]:
    """git-filter-repo's commit-map (old new), kept under the store folder for the record."""
    folder = repo.common_dir / "filter-repo"
    mapping = {}
    lines = (folder / "commit-map").read_text().splitlines()[1:] if (folder / "commit-map").exists() else []
    for line in lines:
        old, new = line.split()
        if old != new:
            mapping[old] = new
    keep = repo.store_dir / "migrations" / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(keep))  # also: the next run must not find filter-repo's "already ran" marker
    return mapping


def copy_notes(repo: Repo, commit_map: dict[str, str]) -> int:
    """Notes on rewritten commits are copied to their new commits, in every notes ref."""
    copied = 0
    for ref in porcelain.notes_refs(repo.cwd):
        pairs = [(target, commit_map[target]) for target in porcelain.notes_targets(repo.cwd, ref) if target in commit_map]
        if pairs:
            porcelain.copy_notes(repo.cwd, ref, pairs)
            copied += len(pairs)
    return copied

"""`branchml migrate import|export`: the Python API behind the CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from branchml.errors import BranchmlError, MissingObject
from branchml.git import cmd, porcelain
from branchml.migrate import dvc, lfs
from branchml.migrate.convert import (
    AboveImport,
    Converter,
    ExportLfs,
    ExportPlain,
    LfsImport,
    attribute_line,
    large_paths,
)
from branchml.migrate.dvc import DvcImport, DvcOut
from branchml.migrate.history import history_files, resolve_refs, small_contents
from branchml.migrate.rewrite import Report, migrate
from branchml.pointers import rev_list_pointers
from branchml.repo import Repo
from branchml.store.maintenance import check_store, missing_chunks_of_files
from branchml.workflows import setup


def import_history(repo: Repo, source: str, args: list[str], *, min_size: int | None = None, refs: list[str] | None = None,
                   everything: bool = False, dry_run: bool = False) -> Report:
    """`migrate import`: `source` is what the history holds now, "lfs" or "dvc" (`args`: refs), or
    "git" (`args`: path patterns, `min_size` bytes and `refs` to rewrite). branchml is installed first
    (unless `dry_run`): the rewrite's closing checkout goes through the branchml filter."""
    if source == "git" and min_size is None:
        raise BranchmlError("--from git needs --above SIZE and path patterns", hint="e.g. branchml migrate import --above 10MB '*.bin'")
    if source not in ("git", "lfs", "dvc"):
        raise BranchmlError(f"unknown history kind {source!r}", hint="use lfs, dvc or git")
    if not dry_run and repo.root is not None:
        setup.install(repo)
    if source == "git":
        assert min_size is not None  # refused above
        return import_above(repo, refs or [], args, min_size, everything=everything, dry_run=dry_run)
    if source == "dvc":
        return import_dvc(repo, args, everything=everything, dry_run=dry_run)
    return import_lfs(repo, args, everything=everything, dry_run=dry_run)


def import_lfs(repo: Repo, refs: list[str], *, everything: bool = False, dry_run: bool = False) -> Report:
    """Git LFS pointers in the history of `refs` become branchml pointers (content into the store)."""
    names = resolve_refs(repo, refs, everything)
    _ensure_lfs_objects(repo, names)
    return _with_writer(repo, LfsImport(repo), names, dry_run)


def import_above(repo: Repo, refs: list[str], patterns: list[str], min_size: int, *, everything: bool = False,
                 dry_run: bool = False) -> Report:
    """Plain Git history: every version of each path matching `patterns` that ever held a blob of at
    least `min_size` bytes becomes a pointer, and that path gets its `.gitattributes` line."""
    names = resolve_refs(repo, refs, everything)
    paths = large_paths([(f.path, f.size) for f in history_files(repo, names)], patterns, min_size)
    converter = AboveImport(repo, paths=paths, root_lines=[attribute_line(p) for p in sorted(paths)])
    return _with_writer(repo, converter, names, dry_run)


LFS_FILTER = {"filter.lfs.clean": "git-lfs clean -- %f", "filter.lfs.smudge": "git-lfs smudge -- %f",
              "filter.lfs.process": "git-lfs filter-process", "filter.lfs.required": "true"}


def import_dvc(repo: Repo, refs: list[str], *, everything: bool = False, dry_run: bool = False) -> Report:
    """DVC outputs (`.dvc` files, `dvc.lock` stages) in the history of `refs` become tracked files."""
    if repo.root is None:
        raise BranchmlError("`migrate import --from dvc` needs a work tree (DVC's cache lives in .dvc/cache)")
    names = resolve_refs(repo, refs, everything)
    dvc_files = [(f.path, f.blob) for f in history_files(repo, names) if dvc.is_dvc_file(f.path)]
    outs = dvc.history_outs(repo, dvc_files)
    if not dry_run:
        _ensure_dvc_content(repo.root, outs)
    return _with_writer(repo, dvc.DvcImport(repo, outs=outs), names, dry_run)


def _ensure_dvc_content(root: Path, outs: list[DvcOut]) -> None:
    missing = dvc.missing_content(root, outs)
    if missing and shutil.which("dvc"):
        subprocess.run(["dvc", "fetch", "--all-commits", "-q"], cwd=root, check=False)  # from the DVC remote
        missing = dvc.missing_content(root, outs)
    if missing:
        listed = ", ".join(f"{path} ({md5[:12]}…)" for path, md5 in missing[:5])
        raise MissingObject(f"{len(missing)} DVC output(s) are neither in .dvc/cache nor on the DVC remote: {listed}",
                            hint="`dvc fetch --all-commits` from a place that has them; nothing was rewritten")


def export(repo: Repo, refs: list[str], to: str, *, everything: bool = False, dry_run: bool = False) -> Report:
    """branchml pointers back to plain Git files (`to="git"`) or to Git LFS pointers (`to="lfs"`)."""
    names = resolve_refs(repo, refs, everything)
    converter: Converter = ExportLfs(repo) if to == "lfs" else ExportPlain(repo)
    if to == "lfs" and not dry_run and shutil.which("git-lfs"):
        # before the rewrite: its closing `git reset --hard` must check files out through git-lfs.
        # The filter settings `git lfs install --local` writes, without its hooks (git-lfs refuses
        # to install over branchml's; run `git lfs install --local --force` for them if wanted)
        for key, value in LFS_FILTER.items():
            cmd.config_set(key, value, repo.cwd)
    report = migrate(repo, names, converter, dry_run=dry_run)
    missing = _missing_lfs(repo, names) if to == "lfs" and report.backups else []
    if missing:  # every exported pointer's object must be in .git/lfs
        raise BranchmlError(f"after the export, {len(missing)} Git LFS object(s) are missing, first {missing[0][0]}",
                            hint="the old history is kept under refs/original/")
    return report


def _with_writer(repo: Repo, converter: LfsImport | AboveImport | DvcImport, refs: list[str], dry_run: bool) -> Report:
    if dry_run:
        return migrate(repo, refs, converter, dry_run=True)
    if repo.root is not None and cmd.config_get("filter.branchml.process", repo.cwd) is None:
        # the rewrite ends with `git reset --hard`, which must check files out through the filter
        raise BranchmlError("branchml is not installed in this clone", hint="run `branchml install` first")
    with repo.store.writer() as writer:
        converter.writer = writer
        report = migrate(repo, refs, converter, dry_run=False)
    report.verified_files = verify(repo, refs)
    return report


def _ensure_lfs_objects(repo: Repo, refs: list[str]) -> None:
    """Every LFS object the history needs must be local before anything is rewritten."""
    missing = _missing_lfs(repo, refs)
    if missing and shutil.which("git-lfs"):
        porcelain.lfs_fetch_all(repo.cwd)  # from the LFS server; what it cannot get stays missing
        missing = _missing_lfs(repo, refs)
    if missing:
        listed = ", ".join(f"{path} ({oid[:12]}…)" for path, oid in missing[:5])
        raise MissingObject(f"{len(missing)} Git LFS object(s) are neither in .git/lfs nor on the LFS server: {listed}",
                            hint="fetch them (`git lfs fetch --all`) from a clone that has them; nothing was rewritten")


def _missing_lfs(repo: Repo, refs: list[str]) -> list[tuple[str, str]]:
    files = history_files(repo, refs)
    small = small_contents(repo, files, lfs.MAX_POINTER_SIZE)
    out = []
    for f in files:
        pointer = lfs.parse(small.get(f.blob, b""))
        if pointer and not lfs.object_path(repo.common_dir, pointer.oid).exists():
            out.append((f.path, pointer.oid))
    return out


def verify(repo: Repo, refs: list[str]) -> int:
    """After an import: every pointer of the rewritten refs has its content in the store, and the
    store reads back clean (fsck --read-data). Returns how many files were checked."""

    oids = {p.pointer.oid for p in rev_list_pointers(repo, refs)}
    problems = missing_chunks_of_files(repo.store, oids) + check_store(repo.store, read_data=True)
    if problems:
        first = problems[0]
        raise BranchmlError(f"verification after the migration found {len(problems)} problem(s), first: "
                            f"{first.kind} {first.object_id[:16]}… {first.detail}",
                            hint="the old history is kept under refs/original/; `branchml fsck --all --read-data` for details")
    return len(oids)

"""Named Git plumbing operations: the one place that spells `git` argument lists and parses output.

Why one module: the same parsers (`ls-tree -z`, `cat-file --batch`, `diff-tree --raw -z`) were
written several times with different decoding rules, and one `diff-tree` without `-z` handed
callers C-quoted names for non-ASCII paths. Here every operation that prints paths runs with `-z`.

Decoding policy (one, everywhere): paths are ``str`` decoded from Git's bytes with
:func:`os.fsdecode` (UTF-8 with ``surrogateescape`` on POSIX), so a path that is not valid UTF-8
keeps every byte and :func:`os.fsencode` gives the exact bytes back; subprocess does that encoding
when a path is passed as an argument. Object ids, ref names, modes and types are ASCII ``str``.
File contents are always ``bytes``.

Git 2.36 or newer is required (``cat-file --batch-command``; ``rev-parse --path-format`` needs
2.31, ``init -b`` 2.28); :func:`require_git` checks that once per process.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from branchml.errors import GitCommandError, GitTooOld, NotARepository, RefChanged
from branchml.git.cmd import Where, git, git_ok

MIN_GIT = (2, 36)
BATCH = 256  # commands per cat-file round trip: their input stays far below a pipe buffer


# -- version ----------------------------------------------------------------------------------


def parse_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of `git --version` output, e.g. "git version 2.39.5.windows.1"."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise GitCommandError(f"cannot read the Git version from {text.strip()!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


@functools.cache
def git_version() -> tuple[int, int, int]:
    return parse_version(git(["--version"]).decode(errors="replace"))


@functools.cache
def require_git() -> None:
    """Raise GitTooOld unless the installed Git is at least MIN_GIT (asked once per process)."""
    check_version(git_version())


def check_version(found: tuple[int, int, int]) -> None:
    if found[:2] < MIN_GIT:
        need = ".".join(map(str, MIN_GIT))
        raise GitTooOld(
            f"branchml needs Git {need} or newer; found Git {'.'.join(map(str, found))}",
            hint=f"install Git {need}+ (e.g. from your distribution's backports or git-scm.com)",
        )


# -- where is the repository ------------------------------------------------------------------


@dataclass(frozen=True)
class RepoPaths:
    root: Path | None  # work tree root; None in a bare repository
    git_dir: Path
    common_dir: Path


def repo_paths(cwd: Where = None) -> RepoPaths:
    """The work tree, git dir and common dir around cwd, from one `git rev-parse` call."""
    args = ["rev-parse", "--path-format=absolute", "--is-bare-repository", "--is-inside-work-tree"]
    proc = subprocess.run(
        ["git", *args, "--git-dir", "--git-common-dir", "--show-cdup"], cwd=cwd, capture_output=True, check=False
    )
    where = os.path.abspath(cwd or ".")
    if proc.returncode != 0:
        raise NotARepository(f"not a git repository: {where}", hint="run `git init` (or `branchml init`) first")
    bare, inside, gdir, common, *rest = os.fsdecode(proc.stdout).split("\n")
    if bare != "true" and inside != "true":
        raise NotARepository(f"{where} is inside a git dir, not a work tree", hint="run from the work tree")
    root = (Path(where) / rest[0]).resolve() if inside == "true" else None
    return RepoPaths(root=root, git_dir=Path(gdir), common_dir=Path(common))


# -- revisions and refs -----------------------------------------------------------------------


def rev_parse(cwd: Where, rev: str) -> str | None:
    """The object id `rev` names, or None when it names nothing (`rev` may be `X^{commit}`)."""
    out = git(["rev-parse", "--verify", "-q", "--end-of-options", rev], cwd, check=False)
    return out.decode().strip() or None


def head_ref(cwd: Where) -> str | None:
    """The full ref HEAD points at (`refs/heads/...`), or None when HEAD is detached."""
    out = git(["symbolic-ref", "-q", "HEAD"], cwd, check=False)
    return out.decode().strip() or None


OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def head_ref_at(git_dir: Path, cwd: Where) -> str | None:
    """`head_ref`, read from the git dir's HEAD file: the hooks Git starts on every commit save a
    `git` process. Anything but a loose `ref: refs/heads/...` or an object id (a symlink, a reftable
    repository, whose HEAD file names `refs/heads/.invalid`) is asked of `git symbolic-ref`."""
    head = git_dir / "HEAD"
    try:
        line, end, rest = ("" if head.is_symlink() else head.read_bytes().decode()).partition("\n")
    except (OSError, UnicodeDecodeError):
        line, end, rest = "", "", ""
    if end and not rest:
        if line.startswith("ref: refs/heads/") and line != "ref: refs/heads/.invalid":
            return line.removeprefix("ref: ")
        if OBJECT_ID.fullmatch(line):
            return None  # detached
    return head_ref(cwd)


def commit_id(cwd: Where, rev: str) -> str | None:
    """The commit `rev` names (a tag is peeled), or None when it names no commit."""
    return rev_parse(cwd, f"{rev}^{{commit}}")


def commit_ids(cwd: Where, revs: Sequence[str]) -> list[str]:
    """The commit each of `revs` names, in order, in one call (raises if one names no commit)."""
    if not revs:
        return []
    return git(["rev-parse", *(f"{_revision(r)}^{{commit}}" for r in revs)], cwd).decode().split()


def full_ref_name(cwd: Where, rev: str) -> str | None:
    """`refs/heads/x` for a branch name `x` (or `HEAD` on a branch); None when `rev` is no ref."""
    # no --end-of-options: rev-parse without --verify prints it back (Git 2.39)
    out = git(["rev-parse", "--symbolic-full-name", _revision(rev)], cwd, check=False)
    return out.decode().strip() or None


def short_head(cwd: Where) -> str | None:
    """The branch HEAD is on, without `refs/heads/`; None when HEAD is detached."""
    ref = head_ref(cwd)
    return ref.removeprefix("refs/heads/") if ref else None


def symbolic_ref(cwd: Where, name: str) -> str | None:
    """The ref a symbolic ref (e.g. `refs/remotes/origin/HEAD`) points at, or None."""
    out = git(["symbolic-ref", "-q", "--", name], cwd, check=False)
    return out.decode().strip() or None


def valid_branch_name(cwd: Where, name: str) -> bool:
    return git_ok(["check-ref-format", "--branch", name], cwd)


def merge_base(cwd: Where, a: str, b: str) -> str | None:
    out = git(["merge-base", "--end-of-options", a, b], cwd, check=False)
    return out.decode().strip() or None


def is_ancestor(cwd: Where, old: str, new: str) -> bool:
    """Whether `old` is `new` or one of its ancestors (a fast-forward from `old` to `new`)."""
    return git_ok(["merge-base", "--is-ancestor", "--end-of-options", old, new], cwd)


def nearest_tags(cwd: Where, commits: Sequence[str]) -> dict[str, str]:
    """The nearest tag of each commit that has one (`git describe --tags`), in one call."""
    unique = list(dict.fromkeys(commits))
    if not unique:
        return {}
    out = git(["describe", "--tags", "--abbrev=0", "--always", *unique], cwd, check=False).decode().splitlines()
    return {commit: name for commit, name in zip(unique, out) if name and name != commit}


def ref_rows(cwd: Where, patterns: Sequence[str], fields: Sequence[str]) -> list[list[str]]:
    """For each ref matching `patterns`, the values of `fields` (for-each-ref atoms, e.g. "refname",
    "objectname", "*objectname"). Fields are NUL-separated; they must not hold a newline (use
    :func:`ref_contents` for messages)."""
    fmt = "%00".join(f"%({f})" for f in fields)
    out = git(["for-each-ref", f"--format={fmt}", "--", *patterns], cwd).decode(errors="surrogateescape")
    return [line.split("\0") for line in out.splitlines()]


def ref_contents(cwd: Where, ref: str) -> str:
    """The message of the annotated tag (or commit) `ref` names, as `%(contents)` prints it."""
    return git(["for-each-ref", "--format=%(contents)", "--", ref], cwd).decode(errors="surrogateescape").rstrip("\n")


@dataclass(frozen=True)
class CommitHead:
    oid: str
    tree: str
    parents: tuple[str, ...]


def commit_heads(cwd: Where, commits: Sequence[str]) -> list[CommitHead]:
    """Tree and parents of each commit, in the order given, in one call."""
    if not commits:
        return []
    lines = "".join(f"{c}\n" for c in commits).encode()
    out = git(["log", "--no-walk=unsorted", "--stdin", "--format=%H %T %P"], cwd, input=lines).decode()
    return [CommitHead(oid, tree, tuple(parents)) for oid, tree, *parents in (line.split() for line in out.splitlines())]


def log_records(
    cwd: Where, revs: Sequence[str], fields: Sequence[str], *, grep: str | None = None, fixed: bool = False,
    first_parent: bool = False, reverse: bool = False, no_walk: bool = False, limit: int | None = None,
) -> list[list[str]]:
    """One list of `fields` (pretty-format placeholders, e.g. "%H", "%(trailers:key=X,valueonly)")
    per commit `git log revs` shows. Records are NUL-terminated and fields 0x1f-separated, so
    messages and trailer values may hold newlines. `grep` selects by message (a regex, or a fixed
    string with `fixed`)."""
    args = ["log", "-z", f"--format={'%x1f'.join(fields)}"]
    args += [f"--grep={grep}"] * (grep is not None) + ["-F"] * fixed + ["-E"] * (grep is not None and not fixed)
    args += ["--first-parent"] * first_parent + ["--reverse"] * reverse + ["--no-walk=unsorted"] * no_walk
    args += [f"-{limit}"] if limit else []
    walks = [r for r in revs if r.startswith("--")]  # --all, --branches: not accepted on stdin
    lines = "".join(f"{rev}\n" for rev in revs if not rev.startswith("--")).encode()  # no limit on how many
    out = git([*args, *walks, "--stdin", "--"], cwd, input=lines).decode(errors="surrogateescape")
    return [record.split("\x1f") for record in out.split("\0")[:-1]]  # each record ends with NUL


def added_paths(cwd: Where, commits: Sequence[str]) -> dict[str, list[str]]:
    """The paths each commit adds against its parent (a merge adds none, as `git log` shows it)."""
    heads = [c for c in commit_heads(cwd, commits) if len(c.parents) <= 1]
    changes = diff_commits(cwd, [(c.oid, c.parents[0] if c.parents else None) for c in heads])
    return {c.oid: [d.path for d in changes.get(c.oid, []) if d.status == "A"] for c in heads}


def commit_message(cwd: Where, rev: str) -> str:
    """The full message of one commit."""
    return log_records(cwd, [rev], ["%B"], no_walk=True)[0][0]


def object_type(cwd: Where, name: str) -> str | None:
    """"blob", "tree", "commit" or "tag"; None when `name` names no object."""
    out = git(["cat-file", "-t", name], cwd, check=False)
    return out.decode().strip() or None


def read_blob(cwd: Where, name: str) -> bytes | None:
    """The bytes of one blob (`<rev>:<path>` or an id), or None when there is no such blob."""
    with CatFile(cwd) as cat:
        ((_, found),) = cat.contents_many([name])
    return found[1] if found is not None and found[0].type == "blob" else None


def git_var(cwd: Where, name: str) -> str:
    """A Git logical variable, e.g. GIT_COMMITTER_IDENT."""
    return git(["var", name], cwd).decode().strip()


def mktag(cwd: Where, body: bytes) -> str:
    """Write an annotated tag object from its full text; returns its id."""
    return git(["mktag"], cwd, input=body).decode().strip()


def rev_list(cwd: Where, args: Sequence[str], *, stdin: Iterable[str] = ()) -> list[str]:
    """Commit ids `git rev-list args` prints (revisions from `stdin` too, when given)."""
    lines = "".join(f"{rev}\n" for rev in stdin).encode()
    extra = ["--stdin"] if lines else []
    return git(["rev-list", *args, *extra], cwd, input=lines or None).decode().split()


def reachable_objects(cwd: Where, args: Sequence[str]) -> list[str]:
    """Ids of every object `git rev-list --objects args` reaches (names dropped: they are not -z safe)."""
    return git(["rev-list", "--objects", "--no-object-names", *args], cwd).decode().split()


def rev_list_objects(cwd: Where, args: Sequence[str], *, stdin: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(id, path) of the objects `git rev-list --objects args` reaches; path "" for commits and root trees.

    Git prints these names raw, one per line (there is no -z before Git 2.45): a path holding a
    newline comes back cut at it. Use them for messages, never to address files.
    """
    lines = "".join(f"{rev}\n" for rev in stdin).encode()
    out = git(["rev-list", "--objects", *(["--stdin"] if lines else []), *args], cwd, input=lines or None)
    pairs = []
    for line in out.split(b"\n"):
        oid, _, path = line.partition(b" ")
        if oid:
            pairs.append((oid.decode(errors="replace"), os.fsdecode(path)))
    return pairs


def update_ref(cwd: Where, ref: str, new: str, *, old: str | None, message: str | None = None) -> None:
    """Point `ref` at `new` only if it is still at `old` (None: only if it does not exist yet).

    Compare-and-swap by Git itself; raises RefChanged when someone else moved the ref first.
    """
    args = ["update-ref", *(["-m", message] if message else []), "--", ref, new, old or "0" * len(new)]
    _update(cwd, args, ref)


def delete_ref(cwd: Where, ref: str, *, old: str | None = None) -> None:
    """Delete `ref` (only if it is at `old`, when given); a missing ref is not an error."""
    args = ["update-ref", "-d", "--", ref, *([old] if old else [])]
    if old is None and rev_parse(cwd, ref) is None:
        return
    _update(cwd, args, ref)


def _update(cwd: Where, args: list[str], ref: str) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise RefChanged(f"could not update {ref}: {err}", hint="another process moved it; retry")


def ref_ids(cwd: Where, pattern: str) -> dict[str, str]:
    """ref name -> object id of every ref matching `pattern`."""
    out = git(["for-each-ref", "--format=%(objectname) %(refname)", "--", pattern], cwd).decode()
    return {ref: oid for oid, _, ref in (line.partition(" ") for line in out.splitlines())}


def set_ref(cwd: Where, ref: str, new: str) -> None:
    """Point `ref` at `new` whatever it pointed at (for refs whose name fixes their content)."""
    _update(cwd, ["update-ref", "--", ref, new], ref)


def for_each_ref(cwd: Where, pattern: str, field: str = "refname") -> list[str]:
    """The `%(field)` of every ref matching `pattern` (ref names never hold a newline)."""
    return git(["for-each-ref", f"--format=%({field})", "--", pattern], cwd).decode().splitlines()


# -- trees ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # "100644", "100755", "120000", "040000", "160000"
    type: str  # "blob", "tree", "commit"
    oid: str
    path: str  # fs-decoded (see the module docstring)
    size: int | None = None  # with long=True, for blobs


def parse_ls_tree(raw: bytes) -> list[TreeEntry]:
    """Entries of `git ls-tree -z [-l]` output: `<mode> <type> <oid>[ <size>]\\t<path>\\0`."""
    entries = []
    for record in raw.split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, kind, oid, *size = meta.decode().split()
        length = int(size[0]) if size and size[0] != "-" else None
        entries.append(TreeEntry(mode, kind, oid, os.fsdecode(path), length))
    return entries


def parse_tree_object(raw: bytes, id_bytes: int) -> list[TreeEntry]:
    """Entries of a raw tree object (`<mode> <name>\\0<id in binary>` each, `id_bytes` long: 20 for
    SHA-1, 32 for SHA-256), with modes and types as ls-tree prints them."""
    entries, at = [], 0
    while at < len(raw):
        space = raw.index(b" ", at)
        nul = raw.index(b"\0", space)
        mode = raw[at:space].decode().rjust(6, "0")  # Git stores trees' mode as 40000
        kind = "tree" if mode == "040000" else "commit" if mode == "160000" else "blob"
        entries.append(TreeEntry(mode, kind, raw[nul + 1:nul + 1 + id_bytes].hex(), os.fsdecode(raw[space + 1:nul])))
        at = nul + 1 + id_bytes
    return entries


def ls_tree(
    cwd: Where,
    treeish: str,
    paths: Sequence[str] = (),
    *,
    recursive: bool = True,
    long: bool = False,
) -> list[TreeEntry]:
    """Entries of `treeish` (whole tree, paths from its root; literal `paths` limit it)."""
    args = ["--literal-pathspecs", "ls-tree", "-z", "--full-tree"]
    args += ["-r"] * recursive + ["-l"] * long + [_revision(treeish), "--", *paths]
    return parse_ls_tree(git(args, cwd))


def ls_files_staged(cwd: Where) -> list[TreeEntry]:
    """The index of this worktree as entries (stage 0 and conflict stages alike)."""
    entries = []
    for record in git(["ls-files", "-s", "-z"], cwd).split(b"\0"):
        if record:
            meta, path = record.split(b"\t", 1)
            mode, oid, _stage = meta.decode().split()
            entries.append(TreeEntry(mode, "commit" if mode == "160000" else "blob", oid, os.fsdecode(path)))
    return entries


def restage(cwd: Where, entries: Iterable[TreeEntry], env: dict[str, str] | None = None) -> None:
    """Re-enter index entries as they are (`update-index --index-info`): clears their stat data, so
    Git compares those files by content next time instead of trusting a size change. Also how
    entries are set in a temporary index (`env` with GIT_INDEX_FILE); mode "0" removes a path."""
    lines = b"".join(b"%s %s\t%s\0" % (e.mode.encode(), e.oid.encode(), os.fsencode(e.path)) for e in entries)
    git(["update-index", "-z", "--index-info"], cwd, input=lines, env=env)


def read_tree(cwd: Where, treeish: str | None, env: dict[str, str] | None = None) -> None:
    """Load `treeish` into the index (None: empty it); with GIT_INDEX_FILE in `env`, a temporary one."""
    git(["read-tree", _revision(treeish)] if treeish else ["read-tree", "--empty"], cwd, env=env)


def write_tree(cwd: Where, env: dict[str, str] | None = None) -> str:
    """The tree object of the index (written; no ref moves)."""
    return git(["write-tree"], cwd, env=env).decode().strip()


def refresh_index(cwd: Where, env: dict[str, str] | None = None) -> None:
    """`update-index -q --refresh`: record the stat data of files that match the index; a file that
    does not stays unrefreshed (not an error: `git status` shows it as modified)."""
    git(["update-index", "-q", "--refresh"], cwd, check=False, env=env)


def index_file(cwd: Where) -> Path:
    """The index file Git uses here (`rev-parse --git-path index`: honours GIT_INDEX_FILE and worktrees)."""
    out = os.fsdecode(git(["rev-parse", "--path-format=absolute", "--git-path", "index"], cwd)).rstrip("\n")
    return Path(out)


def mktree(cwd: Where, entries: Iterable[TreeEntry], *, env: dict[str, str] | None = None) -> str:
    """Write one tree object (non-recursive: nested paths need their own subtree entries)."""
    body = b"".join(
        f"{e.mode} {e.type} {e.oid}\t".encode() + os.fsencode(e.path) + b"\0" for e in entries
    )
    return git(["mktree", "-z"], cwd, input=body, env=env).decode().strip()


def empty_tree(cwd: Where) -> str:
    """The empty tree's id in this repository's hash (SHA-1 or SHA-256)."""
    return hash_object(cwd, b"", kind="tree", write=False)


@dataclass(frozen=True)
class DiffEntry:
    old_mode: str
    new_mode: str
    old_oid: str
    new_oid: str
    status: str  # A, D, M, T (renames are off: a rename is a delete plus an add)
    path: str


def parse_diff_raw(raw: bytes) -> dict[str, list[DiffEntry]]:
    """`git diff-tree -r -z --raw --no-renames` output by commit: `:<meta>\\0<path>\\0` pairs, each
    group after the commit-id field that `--stdin` mode prints ("" when there is none)."""
    fields = raw.split(b"\0")
    out: dict[str, list[DiffEntry]] = {}
    current, i = "", 0
    while i < len(fields):
        field = fields[i]
        if field.startswith(b":"):
            old_mode, new_mode, old_oid, new_oid, status = field.decode().lstrip(":").split()
            entry = DiffEntry(old_mode, new_mode, old_oid, new_oid, status[:1], os.fsdecode(fields[i + 1]))
            out.setdefault(current, []).append(entry)
            i += 2
        else:
            current = field.decode() or current
            i += 1
    return out


def worktree_changes(cwd: Where, pathspecs: Sequence[str]) -> list[DiffEntry]:
    """Work-tree files whose stat differs from the index (`diff-files`: stat only, no content read,
    so no clean filter runs except for racily clean entries, which Git checks by content itself).
    A stat-dirty file's new oid is all zeros; paths are from the work tree's root."""
    raw = git(["diff-files", "-z", "--raw", "--no-renames", "--", *pathspecs], cwd)
    return parse_diff_raw(raw).get("", [])


def untracked_files(cwd: Where, pathspecs: Sequence[str]) -> list[str]:
    """Files `git add` would add as new: untracked and not ignored (paths from the work tree's root)."""
    raw = git(["ls-files", "-z", "--others", "--exclude-standard", "--full-name", "--", *pathspecs], cwd)
    return [os.fsdecode(p) for p in raw.split(b"\0") if p]


def unmatched_pathspecs(cwd: Where, pathspecs: Sequence[str]) -> list[str]:
    """The pathspecs that match no file in the index or the work tree (ignored files do not count),
    as `git add` refuses them; Git names them on stderr."""
    if not pathspecs:
        return []
    proc = subprocess.run(["git", "ls-files", "--error-unmatch", "-c", "-o", "--exclude-standard", "--", *pathspecs],
                          cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return re.findall(r"pathspec '(.*)' did not match", proc.stderr.decode(errors="replace")) if proc.returncode else []


def check_attrs(cwd: Where, paths: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each path's value of the attributes `names` ("unspecified", "set", "unset" or the value)."""
    if not paths:
        return {}
    body = b"".join(os.fsencode(p) + b"\0" for p in paths)
    fields = git(["check-attr", "-z", "--stdin", *names], cwd, input=body).split(b"\0")
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(fields) - 2, 3):
        out.setdefault(os.fsdecode(fields[i]), {})[fields[i + 1].decode()] = os.fsdecode(fields[i + 2])
    return out


def hash_object_paths(cwd: Where, paths: Sequence[Path]) -> list[str]:
    """Store files as blobs as they are (`--no-filters`), in one process: their ids, in order."""
    body = "".join(f"{p}\n" for p in paths).encode()
    return git(["hash-object", "-w", "--no-filters", "--stdin-paths"], cwd, input=body).decode().split()


def add_paths(cwd: Where, paths: Sequence[str]) -> None:
    """`git add -A` of exactly these paths (literal, from the work tree's root; deletions staged too)."""
    if paths:
        body = b"".join(os.fsencode(p) + b"\0" for p in paths)
        git(["--literal-pathspecs", "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"], cwd, input=body)


def diff_tree(
    cwd: Where, old: str, new: str, paths: Sequence[str] = (), *, diff_filter: str | None = None
) -> list[DiffEntry]:
    """What changed from tree-ish `old` to `new` (use :func:`empty_tree` for "nothing")."""
    args = ["--literal-pathspecs", "diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-commit-id"]
    args += [f"--diff-filter={diff_filter}"] if diff_filter else []
    return parse_diff_raw(git([*args, "--end-of-options", old, new, "--", *paths], cwd)).get("", [])


def diff_staged(cwd: Where, *, diff_filter: str | None = None) -> list[DiffEntry]:
    """What the index changes against HEAD (`git diff --cached`)."""
    args = ["diff", "--cached", "--raw", "-z", "--no-renames", *([f"--diff-filter={diff_filter}"] if diff_filter else [])]
    return parse_diff_raw(git(args, cwd)).get("", [])


def diff_commits(cwd: Where, commits: Sequence[tuple[str, str | None]]) -> dict[str, list[DiffEntry]]:
    """Changes of many (commit, parent) pairs in one call, by commit; parent None: a root commit."""
    lines = "".join(f"{c} {p}\n" if p else f"{c}\n" for c, p in commits).encode()
    args = ["diff-tree", "-r", "-z", "--raw", "--no-renames", "--root", "--stdin"]
    return parse_diff_raw(git(args, cwd, input=lines)) if lines else {}


# -- objects ----------------------------------------------------------------------------------


def hash_object(cwd: Where, data: bytes, *, kind: str = "blob", write: bool = True,
                env: dict[str, str] | None = None) -> str:
    """The id of `data` as an object of `kind`, stored when `write` (no filters: stdin is raw)."""
    args = ["hash-object", "-t", kind, *(["-w"] * write), "--stdin"]
    return git(args, cwd, input=data, env=env).decode().strip()


def commit_tree(
    cwd: Where, tree: str, parents: Sequence[str], message: str, *, env: dict[str, str] | None = None
) -> str:
    """Write a commit of `tree` with `parents`; the message goes through stdin, byte for byte."""
    args = ["commit-tree", tree, *(a for p in parents for a in ("-p", p)), "-F", "-"]
    return git(args, cwd, input=message.encode(), env=env).decode().strip()


@dataclass(frozen=True)
class ObjectInfo:
    oid: str
    type: str
    size: int


class CatFile:
    """One long-lived `git cat-file --batch-command` process for many object reads.

    Object names are given as ids or `<rev>:<path>`; a name holding a newline cannot be sent
    (look its entry up with :func:`ls_tree` instead). Use as a context manager, or call close().
    """

    def __init__(self, cwd: Where) -> None:
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc.wait()
            self._proc = None

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch-command", "--buffer"],
                cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        return self._proc

    def info(self, name: str) -> ObjectInfo | None:
        """Type and size of one object, or None when it does not exist."""
        ((_, found),) = self.info_many([name])  # unpacking runs the generator to its end
        return found

    def contents(self, name: str) -> bytes | None:
        """The raw bytes of one object, or None when it does not exist."""
        ((_, found),) = self.contents_many([name])
        return None if found is None else found[1]

    def tree(self, name: str) -> list[TreeEntry]:
        """The entries of one tree (not recursive), like `ls_tree(..., recursive=False)` without a
        process per call: for writers that walk a few trees per commit (the monitor committer)."""
        ((_, found),) = self.contents_many([name])
        if found is None or found[0].type != "tree":
            raise GitCommandError(f"git tree {name} does not exist")
        info, raw = found
        return parse_tree_object(raw, len(info.oid) // 2)

    def blob(self, name: str) -> bytes:
        """The bytes of a blob that must exist (raises GitCommandError naming it otherwise)."""
        data = self.contents(name)
        if data is None:
            raise GitCommandError(f"git object {name} does not exist")
        return data

    def info_many(self, names: Iterable[str]) -> Iterator[tuple[str, ObjectInfo | None]]:
        """(name, info or None) for each name, in order, BATCH names per round trip."""
        done = False
        try:
            for batch in _batches(names):
                self._send("info", batch)
                for name in batch:
                    yield name, self._read_header(name)
            done = True
        finally:
            if not done:  # abandoned mid-batch: unread answers would reach the next caller
                self.close()

    def contents_many(self, names: Iterable[str]) -> Iterator[tuple[str, tuple[ObjectInfo, bytes] | None]]:
        """(name, (info, bytes) or None) for each name, in order, BATCH names per round trip."""
        done = False
        try:
            for batch in _batches(names):
                self._send("contents", batch)
                for name in batch:
                    yield name, self._read_body(name)
            done = True
        finally:
            if not done:  # abandoned mid-batch: unread answers would reach the next caller
                self.close()

    def _send(self, command: str, names: list[str]) -> None:
        proc = self._process()
        assert proc.stdin is not None
        for name in names:
            if "\n" in name:
                raise ValueError(f"object name holds a newline: {name!r}")
        proc.stdin.write(b"".join(f"{command} ".encode() + os.fsencode(n) + b"\n" for n in names) + b"flush\n")
        proc.stdin.flush()

    def _read_header(self, name: str) -> ObjectInfo | None:
        proc = self._process()
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise GitCommandError(f"git cat-file stopped while reading {name}")
        parts = line.decode(errors="replace").split()
        if len(parts) != 3 or parts[1] in ("missing", "ambiguous"):
            return None
        return ObjectInfo(parts[0], parts[1], int(parts[2]))

    def _read_body(self, name: str) -> tuple[ObjectInfo, bytes] | None:
        info = self._read_header(name)
        if info is None:
            return None
        proc = self._process()
        assert proc.stdout is not None
        data = proc.stdout.read(info.size + 1)[:-1]  # the body ends with an extra LF
        if len(data) != info.size:
            raise GitCommandError(f"git cat-file stopped while reading {name}")
        return info, data


def _revision(rev: str) -> str:
    """`rev` as a revision argument; refuses option-like text (ls-tree ignores --end-of-options)."""
    if rev.startswith("-"):
        raise GitCommandError(f"not a revision: {rev!r}")
    return rev


def _batches(names: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# -- trailers ---------------------------------------------------------------------------------


def trailers(cwd: Where, message: bytes) -> list[tuple[str, str]]:
    """(key, value) of the trailers Git itself finds in a commit message, in order."""
    out = git(["interpret-trailers", "--parse"], cwd, input=message).decode(errors="surrogateescape")
    pairs = []
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def with_trailers(message: str, pairs: Iterable[tuple[str, str]]) -> str:
    """`message` with `Key: value` trailers appended as one final paragraph."""
    block = "\n".join(f"{key}: {value}" for key, value in pairs)
    return f"{message.rstrip()}\n\n{block}\n" if block else message


# -- transfers of objects under a ref namespace (the Git remote as blob store) ---------------

# Objects whose bytes are already compressed (branchml packs are zstd) must not cost Git a
# delta search or a second deflate: above core.bigFileThreshold Git stores a blob as it is (no
# delta attempt, streamed into a pack by hash-object) and pack-objects reuses those bytes when
# pushing. Measured in bench/RESULTS.md ("the Git remote as blob store").
RAW_BLOBS = ("-c", "core.bigFileThreshold=1m", "-c", "core.compression=0", "-c", "pack.compression=0")


def hash_object_file(cwd: Where, path: Path, *, env: dict[str, str] | None = None) -> str:
    """Store a file as a blob without loading it into memory (streamed, not deltified, not deflated)."""
    return git([*RAW_BLOBS, "hash-object", "-w", "--no-filters", "--", str(path)], cwd, env=env).decode().strip()


def remote_names(cwd: Where) -> list[str]:
    """The Git remotes configured in this repository."""
    return git(["remote"], cwd).decode().split()


def remote_url(cwd: Where, name: str) -> str | None:
    """The URL Git pushes to for remote `name` (insteadOf rules applied), None when it has none."""
    out = git(["remote", "get-url", "--push", "--", name], cwd, check=False).decode().strip()
    return out or None


def ls_remote(cwd: Where, remote: str, pattern: str, *, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(object id, ref name) of the refs of `remote` matching `pattern` (one round trip)."""
    out = git(["ls-remote", "--refs", "--", remote, pattern], cwd, env=env)
    pairs = []
    for line in out.decode(errors="replace").splitlines():
        oid, _, ref = line.partition("\t")
        if ref:
            pairs.append((oid, ref))
    return pairs


def fetch_refs(cwd: Where, remote: str, refs: Sequence[str], *, env: dict[str, str] | None = None) -> None:
    """Fetch the objects of `refs` from `remote` without updating any local ref (nor FETCH_HEAD);
    a received pack is kept as it is (no unpacking into loose, recompressed objects)."""
    args = [*RAW_BLOBS, "-c", "fetch.unpackLimit=1", "-c", "transfer.unpackLimit=1",
            "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-auto-gc", "--no-recurse-submodules",
            "--", remote, *refs]
    git(args, cwd, env=env)


@dataclass(frozen=True)
class PushResult:
    ok: bool
    atomic_unsupported: bool
    error: str


def push_refspecs(cwd: Where, remote: str, refspecs: Sequence[str], *, atomic: bool,
                  env: dict[str, str] | None = None) -> PushResult:
    """`git push` of explicit refspecs, with no hook run (this is called from our own pre-push hook)."""
    args = [*RAW_BLOBS, "push", "-q", "--no-verify", "--porcelain", *(["--atomic"] * atomic), "--", remote, *refspecs]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=full_env, check=False)
    err = (proc.stderr + proc.stdout).decode(errors="replace").strip()
    return PushResult(proc.returncode == 0, "does not support --atomic" in err, err)


def commit_times(cwd: Where, commits: Sequence[str], *, env: dict[str, str] | None = None) -> dict[str, int]:
    """commit id -> committer time (seconds since the epoch), in one call."""
    out = git(["show", "-s", "--format=%H %ct", *(_revision(c) for c in commits)], cwd, env=env).decode()
    return {oid: int(seconds) for oid, seconds in (line.split() for line in out.splitlines() if line)}


def blob_bytes(cwd: Where, name: str, *, env: dict[str, str] | None = None) -> bytes:
    """The bytes of one blob that must exist (`<commit>:<path>` or an id), with an object directory of `env`."""
    return git(["cat-file", "blob", _revision(name)], cwd, env=env)

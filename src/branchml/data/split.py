"""`data split`: the one train/val/test split everybody uses, stable as data grows.

Each example goes to the split that a hash of (seed, its key) picks: the key is the `--key` column
of a row, or else the example's content hash. Nothing else decides, so adding data never moves an
existing example, and identical files always share a split. Ratios, seed, key and source are saved
in `[split]` of branchml.toml on the split branch and reused; changing them needs --force.

Output, under the data folder: `train/`, `val/`, `test/` (files copied by tree entry, row files cut
row by row) and `manifest.csv` (example id, source path, split, content hash).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import blake3
import tomli_w

from branchml import config
from branchml.data.change import ChangeSet, commit_changes
from branchml.data.rows import (
    RowFile,
    UnreadableFile,
    canonical,
    key_of,
    read_row_file,
    row_format,
)
from branchml.data.settings import data_settings, repo_folder
from branchml.data.tree import (
    BATCH,
    Entry,
    content_hash,
    file_content,
    head_commit,
    ls_tree,
    read_blobs,
    require_role,
    resolve_commit,
)
from branchml.errors import BranchmlError
from branchml.repo import Repo
from branchml.settings import SplitSettings
from branchml.settings.split import ratios_problem

ROLES = ("data/split",)
SPLITS = ("train", "val", "test")
VIEWS = {"train": ("train",), "val": ("val",), "test": ("test",), "train+val": ("train", "val"), "all": SPLITS}
MANIFEST_COLUMNS = ("example_id", "source_path", "split", "content_hash")


@dataclass(frozen=True)
class Settings:
    ratios: tuple[float, float, float]
    seed: int
    source: str
    key: str | None = None

    def as_toml(self) -> dict[str, Any]:
        table = {"ratios": list(self.ratios), "seed": self.seed, "source": self.source}
        return table | ({"key": self.key} if self.key else {})


@dataclass(frozen=True)
class Example:
    example_id: str
    source_path: str
    split: str
    content_hash: str


@dataclass
class SplitResult:
    commit: str | None  # None when the split was already up to date
    settings: Settings
    counts: dict[str, int]
    leaks: dict[str, list[str]] = field(default_factory=dict)  # content hash -> splits holding it


def assign(key: str, seed: int, ratios: tuple[float, ...]) -> str:
    """The split of one example: a uniform number from SHA-256(seed, key) against cumulative ratios."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    total = 0.0
    for name, ratio in zip(SPLITS, ratios):
        total += ratio
        if point < total:
            return name
    return [n for n, r in zip(SPLITS, ratios) if r > 0][-1]  # float rounding at the very top


def parse_ratios(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if ratios_problem(values) is not None:  # the rule a saved [split] ratios is checked with
        raise BranchmlError(
            f"--ratios {text!r}: expected three non-negative numbers for train,val,test that add up to 1",
            hint="e.g. --ratios 0.8,0.1,0.1",
        )
    return values[0], values[1], values[2]


def saved_settings(repo: Repo) -> SplitSettings:
    """[split] of this work tree's branchml.toml (nothing saved before the first split), checked as read."""
    return SplitSettings.from_config(config.load(repo.root, repo.store_dir))


def resolve_settings(repo: Repo, saved: SplitSettings, ratios: str | None, seed: int | None, key: str | None,
                     source: str | None, force: bool) -> Settings:
    """The given options, falling back to the saved ones; refuses silent changes."""
    chosen_ratios = parse_ratios(ratios) if ratios else saved.ratios
    chosen_seed = seed if seed is not None else saved.seed
    if chosen_ratios is None or chosen_seed is None:
        raise BranchmlError("this branch has no saved split yet", hint="pass --ratios 0.8,0.1,0.1 --seed 7 (saved to branchml.toml [split])")
    chosen_source = repo_folder(source or saved.source or data_settings(repo).uploads, "split source")
    settings = Settings(chosen_ratios, chosen_seed, chosen_source, key if key is not None else saved.key)
    changed = changed_settings(saved, settings)
    if changed and not force:
        raise BranchmlError(
            f"the saved split has another {', '.join(changed)} (branchml.toml [split]): changing it moves examples between splits",
            hint="leave those options out to reuse the saved ones, or pass --force to re-split everything",
        )
    return settings


def changed_settings(saved: SplitSettings, settings: Settings) -> list[str]:
    """Which saved settings differ from `settings` (none when nothing was saved yet)."""
    if not saved.saved:
        return []
    before, now = saved.as_toml(), settings.as_toml()
    return [k for k in ("ratios", "seed", "key", "source") if before.get(k) != now.get(k)]


def split(repo: Repo, ratios: str | None = None, seed: int | None = None, key: str | None = None,
          source: str | None = None, force: bool = False) -> SplitResult:
    """Split the source folder of this branch and commit the split folders and the manifest."""
    require_role(repo, ROLES, "data split")
    saved = saved_settings(repo)
    settings = resolve_settings(repo, saved, ratios, seed, key, source, force)
    head = head_commit(repo)
    out_dir = data_settings(repo).dir
    _check_source(settings.source, out_dir)
    entries = ls_tree(repo, head, settings.source)
    if not entries:
        raise BranchmlError(f"nothing to split: no files under {settings.source}/", hint="pull clean data first: `branchml data pull data/clean`")
    plan = _plan(repo, entries, settings, out_dir)
    if not force:
        _check_nothing_moved(repo, head, out_dir, plan.examples)
    changes = _changes(repo, head, out_dir, plan)
    if not saved.saved or changed_settings(saved, settings):
        changes.contents[config.FILE_NAME] = _toml_with(repo, settings)
    result = SplitResult(None, settings, _counts(plan.examples), leaks(plan.examples))
    if changes:
        message = f"Split {settings.source}: " + ", ".join(f"{n} {s}" for s, n in result.counts.items()) + f" (seed {settings.seed})"
        result.commit = commit_changes(repo, changes, message, [])
    return result


@dataclass
class Plan:
    examples: list[Example] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)  # output path -> copied tree entry
    contents: dict[str, bytes] = field(default_factory=dict)  # output path -> row file / manifest


def _check_source(source: str, out_dir: str) -> None:
    outputs = [f"{out_dir}/{s}" for s in SPLITS]
    for out in outputs:
        if source == out or source.startswith(out + "/") or out.startswith(source + "/"):
            raise BranchmlError(f"the split source {source}/ overlaps the split folder {out}/", hint="pass --source with the folder of clean data, e.g. data/uploads")


def _plan(repo: Repo, entries: list[Entry], settings: Settings, out_dir: str) -> Plan:
    plan = Plan()
    for start in range(0, len(entries), BATCH):  # blobs are pointers or small inline files
        batch = entries[start : start + BATCH]
        blobs = read_blobs(repo, (e.sha for e in batch))
        for entry in batch:
            _plan_entry(repo, entry, blobs[entry.sha], settings, out_dir, plan)
    plan.contents[f"{out_dir}/manifest.csv"] = manifest_bytes(plan.examples)
    return plan


def _plan_entry(repo: Repo, entry: Entry, blob: bytes, settings: Settings, out_dir: str, plan: Plan) -> None:
    rel = entry.path[len(settings.source) + 1 :]
    if row_format(entry.path):
        _plan_rows(repo, entry, file_content(repo, blob, entry.path), rel, settings, out_dir, plan)
        return
    digest = content_hash(blob, entry.path)
    name = assign(digest, settings.seed, settings.ratios)
    plan.examples.append(Example(rel, entry.path, name, digest))
    plan.entries[f"{out_dir}/{name}/{rel}"] = entry


def _plan_rows(repo: Repo, entry: Entry, data: bytes, rel: str, settings: Settings, out_dir: str, plan: Plan) -> None:
    try:
        table = read_row_file(entry.path, data)
    except UnreadableFile as exc:
        raise BranchmlError(f"{entry.path}: {exc}", hint="clean the data on data/clean (`branchml data clean`) and pull again") from exc
    examples, numbers = split_rows(table, entry.path, settings)
    plan.examples.extend(examples)
    for name, chosen in numbers.items():
        if chosen:
            plan.contents[f"{out_dir}/{name}/{rel}"] = table.subset(chosen)


def split_rows(table: RowFile, path: str, settings: Settings) -> tuple[list[Example], dict[str, list[int]]]:
    """Each row's example and split, and the row numbers per split.

    The content hash leaves the key column out, so one record uploaded twice under two ids is
    still recognised as the same example by the leakage check.
    """
    examples: list[Example] = []
    numbers: dict[str, list[int]] = {s: [] for s in SPLITS}
    for row in table.rows:
        if row.error:
            raise BranchmlError(f"{path}: row {row.number}: {row.error}", hint="clean the data on data/clean (`branchml data clean`) and pull again")
        example_id = key_of(row, settings.key, path) if settings.key else None
        body = {k: v for k, v in row.value.items() if k != settings.key} if example_id is not None else row.value
        digest = blake3.blake3(canonical(body)).hexdigest()
        example_id = digest if example_id is None else example_id
        name = assign(example_id, settings.seed, settings.ratios)
        numbers[name].append(row.number)
        examples.append(Example(example_id, path, name, digest))
    return examples, numbers


def manifest_bytes(examples: list[Example]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for ex in sorted(examples, key=lambda e: (e.source_path, e.example_id)):
        writer.writerow([ex.example_id, ex.source_path, ex.split, ex.content_hash])
    return out.getvalue().encode()


def read_manifest(repo: Repo, rev: str | None = "HEAD") -> list[Example]:
    """The examples of the split committed at `rev` (empty when there is none)."""
    path = f"{data_settings(repo).dir}/manifest.csv"
    found = [e for e in ls_tree(repo, rev, path) if e.path == path] if rev else []
    if not found:
        return []
    data = file_content(repo, read_blobs(repo, [found[0].sha])[found[0].sha], path)
    rows = csv.DictReader(io.StringIO(data.decode()))
    if tuple(rows.fieldnames or ()) != tuple(MANIFEST_COLUMNS):  # the header row is the format version
        raise BranchmlError(
            f"{rev}:{path}: not a split manifest this branchml reads (header {rows.fieldnames})",
            hint="upgrade branchml, or re-split with `branchml data split --force`",
        )
    return [Example(r["example_id"], r["source_path"], r["split"], r["content_hash"]) for r in rows]


def _check_nothing_moved(repo: Repo, head: str | None, out_dir: str, examples: list[Example]) -> None:
    before = {(e.source_path, e.example_id): e.split for e in read_manifest(repo, head)}
    moved = [e for e in examples if before.get((e.source_path, e.example_id), e.split) != e.split]
    if moved:
        first = moved[0]
        raise BranchmlError(
            f"re-splitting would move {len(moved)} example(s) to another split, e.g. {first.example_id} of {first.source_path} "
            f"from {before[(first.source_path, first.example_id)]} to {first.split}",
            hint="the saved [split] settings were changed by hand; restore them, or pass --force to accept the move",
        )


def _changes(repo: Repo, head: str | None, out_dir: str, plan: Plan) -> ChangeSet:
    """Only what differs from the committed split; outputs of vanished sources are removed."""
    current = [e for s in SPLITS for e in ls_tree(repo, head, f"{out_dir}/{s}")]
    current += [e for e in ls_tree(repo, head, f"{out_dir}/manifest.csv")]
    blobs = read_blobs(repo, (e.sha for e in current))
    now = {e.path: e for e in current}
    changes = ChangeSet()
    for path, entry in plan.entries.items():
        if path not in now or (now[path].mode, now[path].sha) != (entry.mode, entry.sha):
            changes.entries[path] = entry
    for path, data in plan.contents.items():
        if path not in now or content_hash(blobs[now[path].sha], path) != blake3.blake3(data).hexdigest():
            changes.contents[path] = data
    changes.removals = set(now) - set(plan.entries) - set(plan.contents)
    return changes


def _toml_with(repo: Repo, settings: Settings) -> bytes:
    """branchml.toml with [split] set; appended when new, so comments in the file survive."""
    path = repo.work_tree / config.FILE_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    data = config.parse_toml(text, config.FILE_NAME)
    if "split" not in data:
        return (text.rstrip("\n") + "\n\n" + tomli_w.dumps({"split": settings.as_toml()})).lstrip("\n").encode()
    data["split"] = settings.as_toml()
    return tomli_w.dumps(data).encode()


def _counts(examples: list[Example]) -> dict[str, int]:
    return {s: sum(1 for e in examples if e.split == s) for s in SPLITS}


def leaks(examples: list[Example]) -> dict[str, list[str]]:
    """Content hashes found in more than one split: the same example seen in training and evaluation."""
    where: dict[str, set[str]] = {}
    for ex in examples:
        where.setdefault(ex.content_hash, set()).add(ex.split)
    return {h: sorted(s) for h, s in where.items() if len(s) > 1}


def view(repo: Repo, name: str, rev: str = "HEAD") -> list[str]:
    """Files of a view (train, val, test, train+val, all) of the split at `rev`."""
    if name not in VIEWS:
        raise BranchmlError(f"no view named {name!r}", hint=f"choose one of {', '.join(VIEWS)}")

    commit = resolve_commit(repo, rev)
    out_dir = data_settings(repo).dir
    return sorted(e.path for s in VIEWS[name] for e in ls_tree(repo, commit, f"{out_dir}/{s}"))


def leakage(repo: Repo, rev: str = "HEAD") -> dict[str, list[str]]:
    """Leaks in the split committed at `rev`, from its manifest."""
    return leaks(read_manifest(repo, resolve_commit(repo, rev)))

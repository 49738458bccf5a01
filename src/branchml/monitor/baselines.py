"""The baseline of the tag that served a record, found through lineage: tag -> its commit -> the
`[monitor]` settings of that commit's branchml.toml -> the baseline file committed with the model.

Read from Git objects and the store only (no checkout); a tag without a baseline is a note in the
report, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from branchml import config
from branchml.audit.content import blob_at, iter_bytes
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.runs.baseline import BASELINE_FORMAT
from branchml.settings import MonitorSettings


@dataclass
class TagBaseline:
    tag: str
    commit: str | None
    path: str
    baseline: dict[str, Any] | None  # None: see note
    thresholds: dict[str, Any] = field(default_factory=dict)  # the tag's [monitor.thresholds]
    note: str = ""


def load(repo: Repo, tag: str) -> TagBaseline:
    commit = plumbing.rev_parse(repo.cwd, f"refs/tags/{tag}^{{commit}}")
    if commit is None:
        return TagBaseline(tag, None, MonitorSettings().baseline, None, note=f"no tag {tag} in this repository: "
                           "drift not checked (`git fetch --tags` brings it)")
    with plumbing.CatFile(repo.cwd) as objects:  # one process for the tag's settings and its baseline
        return _load_at(repo, objects, tag, commit)


def _load_at(repo: Repo, objects: plumbing.CatFile, tag: str, commit: str) -> TagBaseline:
    settings = tag_settings(repo, commit, tag, objects)
    path, thresholds = settings.baseline or MonitorSettings().baseline, settings.thresholds
    blob = blob_at(repo, commit, path, objects)
    if blob is None:
        return TagBaseline(tag, commit, path, None, thresholds, f"{tag} has no drift baseline ({path}): drift not "
                           "checked; set [monitor] data in branchml.toml and train a new tag (docs/alerts.md)")
    where = f"{tag}:{path}"
    try:
        data = json.loads(b"".join(iter_bytes(repo, blob, objects)))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BranchmlError(f"{where}: not JSON ({exc})", hint="train a new tag; the baseline is written by `branchml run`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("format", 1), int) or data.get("format", 1) > BASELINE_FORMAT:
        raise BranchmlError(f"{where}: baseline format {data.get('format') if isinstance(data, dict) else '?'!r}, "
                            f"this branchml reads {BASELINE_FORMAT}", hint="upgrade branchml")
    return TagBaseline(tag, commit, path, data, thresholds)


def tag_settings(repo: Repo, commit: str, tag: str, objects: plumbing.CatFile) -> MonitorSettings:
    """`[monitor]` of the tag's own branchml.toml, checked (errors name `<tag>:branchml.toml`)."""
    blob = blob_at(repo, commit, config.FILE_NAME, objects)
    text = b"".join(iter_bytes(repo, blob, objects)).decode("utf-8", errors="replace") if blob else ""
    return MonitorSettings.from_config(config.load_section(text, f"{tag}:{config.FILE_NAME}", "monitor"))

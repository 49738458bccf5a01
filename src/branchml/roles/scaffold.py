"""What `branchml init` puts on main: the problem definition, data description and project layout.

Nothing a user wrote is overwritten: files are only created when missing, and the roles/paths
tables are appended to branchml.toml only when it has none. Running it again changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import tomli_w

from branchml import config
from branchml.files import write_atomic

if TYPE_CHECKING:
    from branchml.repo import Repo

PROBLEM_MD = """# Problem definition

Fill in each section before training anything; reviewers read this file first.

## Business problem
What decision or process does this project improve, and for whom?

## Desired outcome
What changes when the model works? How will success be visible outside the model's metrics?

## Target labels and how they are obtained
What is predicted, where the labels come from (who labels, which system, with what delay),
and known label noise or bias.

## Evaluation metrics
The metrics, on which split (`data/split` test set), and the baseline to beat
(most frequent class, or mean/median).

## Requirements
Latency, memory, fairness, privacy, explainability, deployment targets, retraining frequency.
"""

DATA_MD = """# Data description

Every upload is committed to `data/raw` first, with a `Data-Source:` trailer naming its origin.
`data/clean` holds only clean data; `data/split` holds the one train/validation/test split.

## Sources
| Source | Owner | Format | Update frequency | Licence / consent |
|--------|-------|--------|------------------|-------------------|

## Fields
| Field | Type | Meaning | Unit / values |
|-------|------|---------|---------------|

## Cleaning rules
What is left out of `data/clean` and why (broken images, empty text files, ...).

## Split
Ratios, seed and grouping used for `data/split`.
"""

README_MD = """# {name}

An ML project run with branchml: see PROBLEM.md for the problem definition and DATA.md for the data.

Branches: `main` (problem, docs, tracking), `data/raw`, `data/clean`, `data/split`, `dev/*` (code),
`stable/*` (training runs and tags), `monitor/*` (production logs), `ds/*` (analysis).
`branchml branches` lists them with their roles; `branchml verify` checks the role rules.
"""

FOLDERS = ("src", "tests", "docs")  # tracking/ is made on main by the first run record


def scaffold(repo: Repo) -> list[str]:
    """Create the missing scaffold files in the work tree; returns the paths written."""
    root: Path = repo.work_tree
    written = []
    files = {"PROBLEM.md": PROBLEM_MD, "DATA.md": DATA_MD, "README.md": README_MD.format(name=root.name)}
    files.update({f"{folder}/.gitkeep": "" for folder in FOLDERS})
    for rel, text in files.items():
        path = root / rel
        if path.exists() or (path.parent != root and path.parent.exists() and any(path.parent.iterdir())):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path, text)
        written.append(rel)
    if _add_role_tables(root / config.FILE_NAME):
        written.append(config.FILE_NAME)
    return written


def _create(path: Path, text: str) -> None:
    write_atomic(path, text.encode())


def _add_role_tables(toml_path: Path) -> bool:
    """Append the default [roles] and [paths] tables the file lacks, keeping its text as it is."""
    current = config.read_toml(toml_path)
    missing = {key: config.DEFAULTS[key] for key in ("roles", "paths") if key not in current}
    if not missing:
        return False
    text = toml_path.read_text(encoding="utf-8") if toml_path.exists() else ""
    addition = tomli_w.dumps(missing)
    _create(toml_path, (text.rstrip("\n") + "\n\n" if text.strip() else "") + addition)
    return True

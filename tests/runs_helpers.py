"""Shared set-up for the runs tests: a stable branch with a real (pure-Python) training script."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import bml, git

TRAIN = """\
import json, os, sys, time
tag = os.environ["BRANCHML_TAG"]
assert sys.argv[1] == tag, (sys.argv, tag)   # {tag} was replaced in the command
seed = int(os.environ.get("SEED", "1"))
os.makedirs("models", exist_ok=True)
with open("models/model.bin", "wb") as f:
    f.write(bytes((i * seed) % 251 for i in range(300_000)))
with open("metrics.json", "w") as f:
    json.dump({"accuracy": 0.5 + seed / 100, "loss": 1.0 / seed}, f)
with open("params.json", "w") as f:
    json.dump({"seed": seed, "tag": tag}, f)
if os.environ.get("FAIL"):
    print("about to fail", flush=True)
    sys.exit(3)
time.sleep(float(os.environ.get("PAUSE", "0")))
print("trained", tag)
"""


def stable_repo(repo: Path, branch: str = "stable/acme") -> Path:
    """`repo` with an initial commit on main and `branch` holding train.py, models tracked."""
    (repo / "README.md").write_text("problem definition\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    git(repo, "switch", "-qc", branch)
    (repo / "train.py").write_text(TRAIN)
    bml(repo, "track", "models/**")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "training script")
    return repo


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "--list").split()


def record(repo: Path, tag: str) -> dict:
    return json.loads(git(repo, "show", f"main:tracking/runs/{tag}.json"))

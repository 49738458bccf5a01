"""Build the demo repository step by step, reporting each step through `say(title, detail)`.

Everything goes through real Git commands and branchml's own Python API, exactly what a user
would type; the training scripts are files committed in the demo repository.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Callable
from pathlib import Path

from branchml import config
from branchml.demo import scripts
from branchml.errors import BranchmlError
from branchml.git import plumbing, porcelain
from branchml.repo import Repo
from branchml.runs.run import run
from branchml.workflows import setup

Say = Callable[[str, str], None]


def build(dest: Path, say: Say) -> dict:
    """Create the demo repository in `dest` (which must be empty or absent); returns a summary."""
    dataset = _digits_csv()
    if dest.exists() and any(dest.iterdir()):
        raise BranchmlError(f"{dest} is not empty", hint="give the demo a new folder: branchml demo /tmp/branchml-demo")

    repo = setup.init(dest)
    demo = Demo(repo, say)
    demo.main_branch()
    demo.data_branches(dataset)
    demo.dev_baseline(dataset)
    tags = [demo.stable_run("acme", dataset, rows=slice(0, None, 2))]
    tags.append(demo.linear_model_merged("acme"))
    tags.append(demo.stable_run("globex", dataset, rows=slice(1, None, 2)))
    demo.switch("main")
    say("main collects the tracking", "tracking/runs/ on main holds one record per run: `branchml runs`")
    return {"repo": str(dest), "tags": tags}


def _digits_csv() -> list[str]:
    try:
        import skops  # noqa: F401  (checked now, used by the training script)
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"the demo needs scikit-learn and skops ({exc.name} is missing)", hint="pip install 'branchml[demo]'") from exc
    digits = load_digits()
    header = ",".join([f"p{i}" for i in range(digits.data.shape[1])] + ["digit"])
    rows = [",".join(str(int(v)) for v in row) + f",{label}" for row, label in zip(digits.data, digits.target)]
    return [header, *rows]


class Demo:
    def __init__(self, repo: Repo, say: Say) -> None:
        self.repo = repo
        self.root = repo.root
        self.say = say

    def switch(self, branch: str, *, create: bool = False, start: str | None = None) -> None:
        porcelain.switch(self.root, branch, create=create, start=start)

    def commit_of(self, rev: str) -> str:
        commit = plumbing.commit_id(self.root, rev)
        assert commit is not None, rev  # the demo made it a moment ago
        return commit

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str, *trailers: str) -> str:
        porcelain.add_all(self.root)
        porcelain.commit(self.root, message, trailers=[(k, v) for k, _, v in (t.partition(": ") for t in trailers)])
        return self.commit_of("HEAD")

    def main_branch(self) -> None:
        self.write("PROBLEM.md", scripts.PROBLEM)
        setup.track(self.repo, ["data/**", "models/**"])
        self.commit("Problem definition; track data/ and models/ through the branchml store")
        self.say("main", "problem definition committed; data/** and models/** go through the chunk store")

    def data_branches(self, dataset: list[str]) -> None:
        self.switch("data/raw", create=True)
        original = "\n".join(dataset) + "\n"
        self.write("data/digits.csv", original)
        self.commit("Upload digits", "Data-Source: scikit-learn load_digits (bundled, offline)")
        size = len(original.encode())
        self.say("data/raw", f"data/digits.csv committed ({size:,} bytes, {len(dataset) - 1} rows)")

        self.switch("data/clean", create=True)
        changed = _change_one_percent(dataset)
        self.write("data/digits.csv", "\n".join(changed) + "\n")
        raw = self.commit_of("data/raw")
        # the trailers `branchml data pull` writes: a later `data pull data/raw` then starts from this
        # commit of raw and copies only what raw changes after it, keeping the cleaning edit
        self.commit("Clean digits: clip the last 1% of rows", f"Data-From: data/raw@{raw}", "Data-Path: data -> data")
        self.say("data/clean", "1% of the rows changed and committed on a new branch")

        self.switch("data/raw")
        same = hashlib.sha256((self.root / "data/digits.csv").read_bytes()).digest() == hashlib.sha256(original.encode()).digest()
        self.say("git switch data/raw", f"data/digits.csv is byte-identical to the upload: {same}")
        stats = self.repo.store.stats()
        self.say("dedup", f"two versions = {stats['file_bytes']:,} logical bytes, stored in {stats['stored_bytes']:,} bytes "
                 f"({stats['chunks']} unique chunks): the 1% change did not store the file again")
        self.stats = stats
        self.same = same

    def dev_baseline(self, dataset: list[str]) -> None:
        self.switch("dev/model", create=True, start="main")
        self.write("train.py", scripts.BASELINE + scripts.TRAIN_TAIL)
        self.write("predict.py", scripts.PREDICT)
        settings = config.read_toml(self.root / config.FILE_NAME)
        config.write_toml(self.root / config.FILE_NAME, {**settings, "serve": scripts.SERVE_SETTINGS})
        self.write("data/sample.csv", "\n".join(dataset[:201]) + "\n")
        self.commit("Baseline: most frequent class; predict.py and [serve] settings for `branchml serve`")
        self.say("dev/model", "train.py with a most-frequent-class baseline, tried on a 200-row sample; "
                 "predict.py is the inference entry point `branchml serve <tag>` loads")

    def stable_run(self, customer: str, dataset: list[str], rows: slice) -> str:
        self.switch(f"stable/{customer}", create=True, start="dev/model")
        clean = self.commit_of("data/clean")
        self.write("data/train.csv", "\n".join([dataset[0], *dataset[1:][rows]]) + "\n")
        self.commit(f"{customer}'s training data from data/clean", f"Data-From: data/clean@{clean}")
        return self.train(customer)

    def linear_model_merged(self, customer: str) -> str:
        self.switch("dev/model")
        self.write("train.py", scripts.LINEAR + scripts.TRAIN_TAIL)
        self.commit("Linear model: logistic regression")
        self.say("dev/model", "train.py grows a logistic regression")
        self.switch(f"stable/{customer}")
        porcelain.merge(self.root, "dev/model", "Merge dev/model: linear model")
        self.say(f"stable/{customer}", "dev/model merged (code only arrives by merge)")
        return self.train(customer)

    def train(self, customer: str) -> str:
        result = run(self.repo, [sys.executable, "train.py", "data/train.csv"], customer=customer, stream=io.BytesIO())
        metrics = ", ".join(f"{k}={v}" for k, v in result.record["metrics"].items())
        self.say(f"branchml run on stable/{customer}", f"tag {result.tag} chosen first, trained ({metrics}), committed, "
                 f"tagged, record copied to main")
        return result.tag


def _change_one_percent(dataset: list[str]) -> list[str]:
    """The last 1% of rows with their pixels clipped to 15: a small, local edit."""
    rows = list(dataset)
    count = max(1, (len(rows) - 1) // 100)
    for i in range(len(rows) - count, len(rows)):
        *pixels, label = rows[i].split(",")
        rows[i] = ",".join([str(min(int(p), 15)) for p in pixels] + [label])
    return rows

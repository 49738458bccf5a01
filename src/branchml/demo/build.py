"""Build the demo repository step by step, reporting each step through `say(title, detail)`.

Everything goes through real Git commands and branchml's own Python API, exactly what a user
would type; the training scripts are files committed in the demo repository. The data is real:
Seattle's daily weather, 2012 for the first models, later years as production traffic (see
`production.py` for the production story).
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from branchml import config
from branchml.data.add import add
from branchml.data.clean import clean
from branchml.data.pull import pull
from branchml.data.split import split
from branchml.demo import production, scripts, weather
from branchml.errors import BranchmlError
from branchml.git import plumbing, porcelain
from branchml.repo import Repo
from branchml.runs.run import run
from branchml.workflows import setup

Say = Callable[[str, str], None]


@dataclass(frozen=True)
class DemoSummary:
    """The demo repository built: where, the tags trained (oldest first), and the production story."""

    repo: str
    tags: list[str]
    production: production.ProductionStory

    def as_dict(self) -> dict[str, Any]:
        """`branchml demo --json` (with the newest tag's `show` added by the command)."""
        return {"repo": self.repo, "tags": list(self.tags), "production": self.production.as_dict()}
SPLIT: dict[str, Any] = {"ratios": "0.7,0.15,0.15", "seed": 7, "key": "date"}


def build(dest: Path, say: Say) -> DemoSummary:
    """Create the demo repository in `dest` (which must be empty or absent); returns a summary."""
    days = weather.load()
    if dest.exists() and any(dest.iterdir()):
        raise BranchmlError(f"{dest} is not empty", hint="give the demo a new folder: branchml demo /tmp/branchml-demo")

    repo = setup.init(dest)
    demo = Demo(repo, say)
    try:
        return _story(demo, days, dest, say)
    finally:
        shutil.rmtree(demo.incoming, ignore_errors=True)  # the "incoming" files are committed by then


def _story(demo: Demo, days: list[weather.Day], dest: Path, say: Say) -> DemoSummary:
    demo.main_branch()
    demo.upload(weather.between(days, "2012", "2012"), "2012", first=True)
    demo.dev_baseline(weather.between(days, "2012-01", "2012-02"))
    tags = [demo.stable_run("acme"), demo.model_merged("acme"), demo.stable_run("globex")]
    story = production.story(demo, days)
    tags.append(story.retrained)
    demo.switch("main")
    say("main collects the tracking", "tracking/runs/ on main holds one record per run: `branchml runs`")
    return DemoSummary(str(dest), tags, story)


class Demo:
    def __init__(self, repo: Repo, say: Say) -> None:
        self.repo = repo
        self.root = repo.work_tree
        self.say = say
        self.incoming = Path(tempfile.mkdtemp(prefix="branchml-demo-incoming-"))

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str, *trailers: str) -> str:
        porcelain.add_all(self.root)
        porcelain.commit(self.root, message, trailers=[(k, v) for k, _, v in (t.partition(": ") for t in trailers)])
        head = plumbing.commit_id(self.root, "HEAD")
        assert head is not None  # just committed
        return head

    def switch(self, branch: str, start: str = "main") -> None:
        exists = plumbing.rev_parse(self.root, f"refs/heads/{branch}") is not None
        porcelain.switch(self.root, branch, create=not exists, start=None if exists else start)

    def main_branch(self) -> None:
        self.write("PROBLEM.md", scripts.PROBLEM)
        setup.track(self.repo, ["data/**", "models/**"])
        self.commit("Problem definition; track data/ and models/ through the branchml store")
        self.say("main", "problem definition committed; data/** and models/** go through the chunk store")

    def upload(self, days: list[weather.Day], years: str, first: bool = False) -> None:
        """New data arrives: data/raw (upload) -> data/clean (pull, clean) -> data/split (pull, split)."""
        self.switch("data/raw")
        incoming = self.incoming / f"seattle-weather-{years}.csv"
        incoming.write_text(weather.to_csv(days), encoding="utf-8")
        upload = add(self.repo, [incoming], source=f"vega_datasets seattle-weather, {years} (NOAA daily records)")
        self.say("data/raw", f"{len(days)} days of {years} uploaded to {upload.folder}/ with a Data-Source trailer")
        self.switch("data/clean")
        pull(self.repo, "data/raw")
        cleaned = clean(self.repo)
        dropped = len(cleaned.dropped_files) + len(cleaned.dropped_rows)
        self.say("data/clean", f"pulled from data/raw, {cleaned.checked_files} file(s) checked, {dropped} broken row(s) or file(s) dropped")
        self.switch("data/split")
        pull(self.repo, "data/clean")
        result = split(self.repo, **SPLIT) if first else split(self.repo)
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        self.say("data/split", f"pulled from data/clean; train/val/test by a hash of each day's date (ratios "
                 f"{SPLIT['ratios']}, seed {SPLIT['seed']}): {counts}; adding days never moves one")

    def dev_baseline(self, sample: list[weather.Day]) -> None:
        self.switch("dev/model")
        self.write("train.py", scripts.BASELINE + scripts.TRAIN_TAIL)
        self.write("predict.py", scripts.PREDICT)
        settings = config.read_toml(self.root / config.FILE_NAME)
        config.write_toml(self.root / config.FILE_NAME,
                          {**settings, "serve": scripts.SERVE_SETTINGS, "monitor": scripts.MONITOR_SETTINGS})
        self.write("data/sample.csv", weather.to_csv(sample))
        self.commit("Baseline: most frequent class; predict.py, [serve] and [monitor] settings")
        self.say("dev/model", "train.py with a most-frequent-class baseline in three phases, tried on a 60-day "
                 "sample; predict.py is the inference entry point `branchml serve <tag>` loads")

    def stable_run(self, customer: str) -> str:
        self.switch(f"stable/{customer}", "dev/model")
        pull(self.repo, "data/split")
        self.say(f"stable/{customer}", "data pulled from data/split (train, val, test), with a Data-From trailer")
        return self.train(customer)

    def model_merged(self, customer: str) -> str:
        self.switch("dev/model")
        self.write("train.py", scripts.MODEL + scripts.TRAIN_TAIL)
        self.commit("Model: decision trees and logistic regression, tuned on validation")
        self.say("dev/model", "train.py grows a tuned model (trees and logistic regression, chosen on validation)")
        self.switch(f"stable/{customer}")
        porcelain.merge(self.root, "dev/model", "Merge dev/model: tuned model")
        self.say(f"stable/{customer}", "dev/model merged (code only arrives by merge)")
        return self.train(customer)

    def train(self, customer: str) -> str:
        result = run(self.repo, [sys.executable, "train.py"], customer=customer, stream=io.BytesIO())
        metrics, params = result.record.metrics, result.record.params
        self.say(f"branchml run on stable/{customer}", f"tag {result.tag} chosen first; three phases on "
                 f"{params['window']}: {params['model']} chosen on validation ({metrics['val_accuracy']}), test accuracy "
                 f"{metrics['accuracy']} (evaluated once), final model on all the days; committed with its drift "
                 "baseline, tagged, record copied to main")
        return result.tag

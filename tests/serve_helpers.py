"""Shared set-up for serve/monitor tests: tags trained by `branchml run`, real uvicorn servers on loopback."""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from conftest import bml, git
from runs_helpers import stable_repo

COLUMNS = ["a", "b", "c"]

# A real scikit-learn model, saved with skops; UNSAFE=1 puts os.system into the pipeline, a type
# skops does not trust (the test that the server refuses it).
TRAIN = """\
import json, os
import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

rng = np.random.default_rng(int(os.environ.get("SEED", "0")))
X = rng.normal(size=(200, 3))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = make_pipeline(LogisticRegression()).fit(X, y)
if os.environ.get("UNSAFE"):
    model = make_pipeline(FunctionTransformer(os.system), LogisticRegression())  # never fitted, never called
os.makedirs("models", exist_ok=True)
sio.dump(model, "models/model.skops")
json.dump({"format": 1, "columns": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"},
           {"name": "c", "type": "long"}]}, open("models/input_schema.json", "w"))
json.dump({"rows": 200}, open("metrics.json", "w"))
"""

PREDICT = """\
import numpy as np
from .features import scale


def predict(model, frame):
    return model.predict(scale(np.asarray(frame.rows, dtype=float)))
"""

FEATURES = """\
def scale(x):
    return x * 1.0
"""

SERVE = """
[serve]
predict = "src/predict.py:predict"
model = "models/model.skops"
input_schema = "models/input_schema.json"
"""


def trained_repo(repo: Path) -> Path:
    """A repository with tags m-1, m-2 (two seeds) and bad-1 (untrusted type), trained by `branchml run`."""
    stable_repo(repo, "stable/m")
    (repo / "train.py").write_text(TRAIN)
    (repo / "src").mkdir(exist_ok=True)
    (repo / "src/predict.py").write_text(PREDICT)
    (repo / "src/features.py").write_text(FEATURES)
    settings = (repo / "branchml.toml").read_text()
    (repo / "branchml.toml").write_text(re.sub(r"(?ms)^\[serve\]\n.*?(?=^\[|\Z)", "", settings) + SERVE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "serving code")
    for seed in ("1", "2"):
        _run(repo, {"SEED": seed})
    _run(repo, {"UNSAFE": "1"}, "--tag", "bad-1")
    return repo


def _run(repo: Path, env: dict[str, str], *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "branchml", "run", *args, "--", sys.executable, "train.py"],
                          cwd=repo, env={**os.environ, **env}, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()


_STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    """A test that failed before stopping its servers must not leave them serving after the run."""
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()


class Server:
    """`branchml serve ...` in a subprocess on an ephemeral loopback port."""

    def __init__(self, repo: Path, *args: str, wrap: tuple[str, ...] = ()) -> None:
        self.log_path = repo.parent / f"serve-{time.monotonic_ns()}.err"
        self.proc = subprocess.Popen([*wrap, sys.executable, "-m", "branchml", "serve", *args, "--port", "0"], cwd=repo,
                                     stdout=subprocess.DEVNULL, stderr=self.log_path.open("wb"))
        _STARTED.append(self.proc)
        self.url = self._wait_ready()
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _wait_ready(self) -> str:
        for _ in range(600):
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", self.log_path.read_text())
            if found:
                try:
                    if httpx.get(found.group(1) + "/ping", timeout=5).status_code == 200:
                        return found.group(1)
                except httpx.TransportError:
                    pass
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.log_path.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log_path.read_text()}")

    def score(self, body: object, **headers: str) -> httpx.Response:
        return self.client.post("/invocations", json=body, headers=headers)

    def stop(self) -> None:
        """SIGTERM: uvicorn shuts down gracefully (the logger commits what is pending); exit status 0."""
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.log_path.read_text()
        assert "Traceback" not in self.log_path.read_text(), self.log_path.read_text()

    def kill(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait(60)


def split(rows: list[list[float]]) -> dict:
    return {"dataframe_split": {"columns": COLUMNS, "data": rows}}


def logged(repo: Path, tag: str, env: str = "prod") -> list[dict]:
    out = bml(repo, "monitor", "logs", "--tag", tag, "--env", env, "--json").stdout
    return [r for e in json.loads(out) for r in e["records"]]


def wait_logged(repo: Path, tag: str, env: str, ids: set[str]) -> dict[str, dict]:
    """The records of `tag` on monitor/<env> by request id, once every id of `ids` is committed there."""
    found: dict[str, dict] = {}
    for _ in range(300):
        found = {r["request_id"]: r for r in logged(repo, tag, env)} if git(repo, "branch", "--list", f"monitor/{env}") else {}
        if ids <= set(found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"{ids - set(found)} never reached monitor/{env}")


# A tag without scikit-learn: linear weights in safetensors, and the tag's own predict using them.
SCHEMA_FILE = {"format": 1, "columns": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"},
                                        {"name": "c", "type": "long"}]}
WEIGHTS = {"w": np.array([0.5, -1.0, 0.25]), "b": np.array([0.1])}
LINEAR = """\
def predict(weights, frame):
    return frame.to_numpy().astype(float) @ weights["w"] + weights["b"][0]
"""


def serve_settings(model: str, predict: str = "") -> str:
    line = f'predict = "{predict}"\n' if predict else ""
    return f'\n[serve]\n{line}model = "{model}"\ninput_schema = "models/input_schema.json"\n'


def commit_tag(repo: Path, settings: str, tag: str) -> None:
    """Commit the work tree with `settings` as branchml.toml's [serve] table, and tag it."""
    text = re.sub(r"(?ms)^\[serve\]\n.*?(?=^\[|\Z)", "", (repo / "branchml.toml").read_text())
    (repo / "branchml.toml").write_text(text.rstrip("\n") + "\n" + settings)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"model {tag}")
    git(repo, "tag", tag)


def linear_tag(repo: Path, tag: str) -> None:
    """Commit and tag a safetensors model with its predict entry point (models/** should be tracked)."""
    from safetensors.numpy import save_file

    (repo / "models").mkdir(exist_ok=True)
    (repo / "models/input_schema.json").write_text(json.dumps(SCHEMA_FILE))
    save_file(WEIGHTS, str(repo / "models/weights.safetensors"))
    (repo / "src").mkdir(exist_ok=True)
    (repo / "src/linear.py").write_text(LINEAR)
    commit_tag(repo, serve_settings("models/weights.safetensors", "src/linear.py:predict"), tag)


def state(pid: int) -> str:
    """The process's state letter from /proc (R, S, Z...); "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def committers(parent: int) -> list[int]:
    """Live monitor committer processes (monitor/committer.py) whose parent is `parent`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
            continue
        if int(stat[1]) == parent and stat[0] != "Z" and b"branchml.monitor.committer" in cmdline:
            found.append(int(proc.name))
    return found

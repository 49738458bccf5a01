"""The server's post-receive hook (`branchml install --server`): checks after a push to monitor/*.

Post-receive runs after the refs moved, so it can never refuse logs. It runs only where the
server's own `branchml/local.toml` says `[monitor] check_on_push = true` (a committed setting cannot
make a server run code). It runs the built-in rules unless the server's admin trusted the branch's
alerts/rules.py there (`branchml monitor trust --env ENV` in the bare repository): a pusher cannot
make the server run code. The summary goes to the pusher (Git shows it as `remote:` lines) and the
JSON report is kept under the server's `branchml/monitor/reports/<env>/`; nothing is committed, so
the pushers' next pushes stay fast-forwards.
"""

from __future__ import annotations

import json
import sys

from branchml import config
from branchml.errors import BranchmlError
from branchml.files import write_atomic
from branchml.monitor.check import CheckOptions, check
from branchml.monitor.reports import report_paths, summary
from branchml.repo import Repo
from branchml.settings import MonitorConsent

PREFIX = "refs/heads/monitor/"
ZERO = "0" * 40


def post_receive(repo: Repo, args: list[str], stdin: bytes) -> None:
    if not MonitorConsent.from_local(config.load_local(repo.store_dir)).check_on_push:
        return
    for line in stdin.decode(errors="replace").splitlines():
        _old, new, ref = (line.split() + ["", "", ""])[:3]
        if ref.startswith(PREFIX) and new.strip("0"):
            _check(repo, ref.removeprefix(PREFIX), new)


def _check(repo: Repo, env: str, commit: str) -> None:
    try:
        report = check(repo, CheckOptions(env=env, commit=commit, untrusted="built-in"))
    except BranchmlError as exc:
        print(f"branchml monitor: check of monitor/{env} failed: {exc}", file=sys.stderr)
        return
    name = report_paths(report)[0].rsplit("/", 1)[1]
    kept = repo.store_dir / "monitor" / "reports" / env / name
    kept.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(kept, (json.dumps(report.as_dict(), sort_keys=True, indent=2, default=str) + "\n").encode())
    print(f"branchml monitor: {summary(report)}report kept on the server as {kept}", file=sys.stderr)

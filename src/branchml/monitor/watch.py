"""`branchml monitor watch`: run the committed checks each time new logs reach monitor/<env>.

A local loop: it polls the branch (`rev-parse`, cheap) and runs a check when the tree under
`logs/` changed since the last check, so its own report commits (under `reports/`) never trigger
another check. Each report is committed like `monitor check`'s; alerts are printed and the loop
goes on. `max_checks` ends it (tests, cron-style use with `--once`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from branchml.git import plumbing
from branchml.monitor.check import CheckOptions, check
from branchml.monitor.checkreport import CheckReport
from branchml.monitor.records import LOGS_DIR, branch_ref
from branchml.monitor.reports import commit_report
from branchml.repo import Repo


def watch(repo: Repo, options: CheckOptions, *, interval: float, max_checks: int | None, commit: bool,
          on_report: Callable[[CheckReport], None]) -> int:
    """Check on every change of the logs; returns how many checks raised alerts."""
    ref, last, checks, alerted = branch_ref(options.env), "", 0, 0
    while max_checks is None or checks < max_checks:
        tip = plumbing.rev_parse(repo.cwd, f"{ref}^{{commit}}")
        logs = plumbing.rev_parse(repo.cwd, f"{tip}:{LOGS_DIR}") if tip else None
        if tip is not None and logs is not None and logs != last:
            report = check(repo, replace(options, commit=tip))
            if commit:
                commit_report(repo.cwd, report)
            on_report(report)
            checks, last, alerted = checks + 1, logs, alerted + report.alert
            continue
        time.sleep(interval)
    return alerted

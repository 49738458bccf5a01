"""The demo's production story (B5, B6): serve, replay real traffic, alerts, retrain, forward and
backward tests, and the A/B report that names the tag behind each change.

acme-2 (trained on 2012) is served by the real `branchml serve` on loopback; 2013-2014 are replayed
as traffic, one request a day, and the observed weather arrives as labels. `monitor check` compares
the window with the baseline stored with acme-2. The 2013-2014 days then arrive on data/raw, flow to
data/split and stable/acme, and acme-3 is trained on the latest year. The first half of 2015 is a
forward test (acme-2 99% / acme-3 1%, sticky per caller); acme-3 is promoted and the second half is
a backward test (acme-3 99% / acme-2 1%). Many callers (weather apps) each ask about a few days, so
that 1% of callers is enough answers to see an effect.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from branchml.data.pull import pull
from branchml.demo import weather
from branchml.errors import BranchmlError
from branchml.experiments.plot import plot
from branchml.experiments.report import Report, report
from branchml.monitor.check import CheckOptions, check
from branchml.monitor.labels import add_labels, read_rows
from branchml.monitor.reports import commit_report
from branchml.repo import Repo

ENV = "prod"
CALLERS = 1000  # weather apps; 1% of them (sticky, by a hash of the caller id) see the canary
GROUPS = 12  # caller j asks about every day whose index in the phase is j modulo GROUPS (about 15 days)
WEEK = 7
THREADS = 4


class Demo(Protocol):
    """What the story needs of the demo under construction (demo.build.Demo)."""

    repo: Repo
    incoming: Path

    def say(self, title: str, detail: str) -> None: ...
    def switch(self, branch: str, start: str = "main") -> None: ...
    def write(self, path: str, text: str) -> None: ...
    def commit(self, message: str, *trailers: str) -> str: ...
    def upload(self, days: list[weather.Day], years: str, first: bool = False) -> None: ...
    def train(self, customer: str) -> str: ...


@dataclass(frozen=True)
class ProductionStory:
    """What the production part of the demo did: the tag served, the one retrained, the alerts raised
    by the monitor check, and the A/B report of the forward and backward tests."""

    served: str
    retrained: str
    alerts: list[str]
    ab: Report

    def as_dict(self) -> dict[str, Any]:
        return {"served": self.served, "retrained": self.retrained, "alerts": list(self.alerts), "ab": self.ab.to_dict()}


def story(demo: Demo, days: list[weather.Day]) -> ProductionStory:
    serving = "acme-2"
    with Server(demo.repo.cwd, serving) as server:
        answered = server.replay(weather.between(days, "2013", "2014"), "monitor", callers=0)
    demo.say(f"branchml serve {serving} --env {ENV}", f"{len(answered)} days of 2013-2014 replayed as traffic (a request per "
             f"station and week) through the real server on {server.url}; every answer journaled, then committed onto "
             f"monitor/{ENV} under logs/{serving}/")
    label(demo, answered, "observed-2013-2014.csv")
    alerts = alert_check(demo)
    demo.upload(weather.between(days, "2013", "2014"), "2013-2014")
    demo.switch("stable/acme")
    pull(demo.repo, "data/split")
    new = demo.train("acme")
    first, second = weather.between(days, "2015-01", "2015-06"), weather.between(days, "2015-07", "2015-12")
    with Server(demo.repo.cwd, serving, f"{new}=1%") as server:
        label(demo, server.replay(first, "forward"), "observed-2015-h1.csv")
    demo.say(f"forward test: serve {serving} --canary {new}=1%", f"2015-01..06 asked by {CALLERS} apps; 1% of them "
             f"(sticky) answered by {new}")
    with Server(demo.repo.cwd, new, f"{serving}=1%") as server:
        label(demo, server.replay(second, "backward"), "observed-2015-h2.csv")
    demo.say(f"promoted: serve {new} --canary {serving}=1%", f"backward test on 2015-07..12: 1% of the apps kept on {serving}")
    result = report(demo.repo.cwd, ENV)
    narrate(demo, result)
    analysis(demo, result)
    return ProductionStory(serving, new, alerts, result)


def analysis(demo: Demo, result: Report) -> None:
    """B6: the analysis branch ds/acme pulls the logs from monitoring and keeps the report (and its plot)."""
    demo.switch("ds/acme")
    pull(demo.repo, f"monitor/{ENV}", path="logs")
    demo.write("analysis/ab-prod.json", json.dumps(result.to_dict(), indent=1, sort_keys=True) + "\n")
    try:
        plot(result, demo.repo.cwd / "analysis/ab-prod.png")
        drawn = " and analysis/ab-prod.png"
    except BranchmlError:  # matplotlib is optional (the `plot` extra)
        drawn = ""
    demo.commit(f"A/B analysis of monitor/{ENV}: forward and backward tests of acme-3")
    demo.say("ds/acme", f"logs pulled from monitor/{ENV} (Data-From trailer); analysis/ab-prod.json{drawn} committed")


def label(demo: Demo, answered: list[tuple[str, str]], name: str) -> None:
    """The observers' records arrive: request_id,label, committed like `branchml monitor label`."""
    path = demo.incoming / name
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("request_id", "label"), *answered])
    add_labels(demo.repo.cwd, ENV, read_rows(path), str(path))
    demo.say(f"branchml monitor label --env {ENV} {name}", f"{len(answered)} observed weathers joined by request_id")


def alert_check(demo: Demo) -> list[str]:
    found = check(demo.repo, CheckOptions(env=ENV))
    commit_report(demo.repo.cwd, found)
    alerts = found.alerts
    shown = "; ".join(alerts[:4]) + (f"; ... ({len(alerts)} in all)" if len(alerts) > 4 else "")
    demo.say(f"branchml monitor check --env {ENV}", f"against acme-2's training baseline: {shown or 'no alert'}; report "
             f"committed under reports/ on monitor/{ENV}")
    return alerts


def narrate(demo: Demo, result: Report) -> None:
    for exp in result.experiments:
        comp = exp.comparison
        if comp is None:
            continue
        demo.say(f"branchml ab report --env {ENV}: {exp.kind} test", f"{exp.candidate} ({exp.candidate_n} labelled answers) "
                 f"vs {exp.reference} ({exp.reference_n}): accuracy {comp.difference:+.3f} [{comp.low:+.3f}, "
                 f"{comp.high:+.3f}], p={comp.p_value:.2g}; {comp.needed_candidate} candidate answers needed for 80% power"
                 + "".join(f"; {w}" for w in exp.warnings))
    for change in result.changes:
        if change.comparison is not None:
            demo.say("the tag behind the change", f"{change.before} -> {change.after} as primary: accuracy "
                     f"{change.comparison.difference:+.3f} (before/after, confounded with time; the tests are randomised)")


class Server:
    """`branchml serve TAG [--canary C] --env prod` on an ephemeral loopback port, as a user starts it."""

    def __init__(self, root: Path, tag: str, canary: str | None = None) -> None:
        args = [sys.executable, "-m", "branchml", "serve", tag, "--env", ENV, "--port", "0"]
        args += ["--canary", canary] if canary else []
        self.log = root.parent / f".branchml-demo-serve-{tag}.log"
        self.proc = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        try:
            self.url = self._wait()
        except BaseException:
            self.proc.kill()  # a server that did not come up must not outlive the demo
            self.proc.wait(60)
            raise

    def _wait(self) -> str:
        import httpx  # heavy, optional (the `demo` extra)

        for _ in range(1200):
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", self.log.read_text(errors="replace"))
            try:
                if found and httpx.get(found.group(1) + "/ping", timeout=10).status_code == 200:
                    return found.group(1)
            except httpx.TransportError:
                pass  # bound, not accepting yet
            if self.proc.poll() is not None:
                raise BranchmlError(f"branchml serve exited {self.proc.returncode}: {self.log.read_text(errors='replace')}")
            time.sleep(0.1)
        raise BranchmlError(f"branchml serve did not start: {self.log.read_text(errors='replace')}")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        """SIGTERM: uvicorn shuts down gracefully and the logger commits what is pending."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self.log.unlink(missing_ok=True)

    def replay(self, days: list[weather.Day], phase: str, callers: int = CALLERS) -> list[tuple[str, str]]:
        """Send the days as traffic; returns (request_id, observed weather) of every answered row."""
        import httpx  # heavy, optional (the `demo` extra)

        if not callers:  # a weather station sends its week
            asks = [(f"{phase}-{days[i].date}", f"station-{i // WEEK % 20}", days[i:i + WEEK]) for i in range(0, len(days), WEEK)]
        else:  # caller j asks about every GROUPS-th day, in one request
            asks = [(f"{phase}-app{j:03d}", f"app-{j:03d}", days[j % GROUPS::GROUPS]) for j in range(callers)]
        with httpx.Client(base_url=self.url, timeout=60) as client, ThreadPoolExecutor(THREADS) as pool:
            done = pool.map(lambda ask: self._ask(client, *ask), asks)
            return [pair for pairs in done for pair in pairs]

    @staticmethod
    def _ask(client: Any, request_id: str, caller: str, days: list[weather.Day]) -> list[tuple[str, str]]:
        body = {"dataframe_split": {"columns": list(weather.FEATURES), "data": [list(d.features) for d in days]}}
        answer = client.post("/invocations", json=body, headers={"X-Request-ID": request_id, "X-Caller-ID": caller})
        if answer.status_code != 200:
            raise BranchmlError(f"the demo's server answered {answer.status_code}: {answer.text}")
        if len(days) == 1:
            return [(request_id, days[0].weather)]
        return [(f"{request_id}-{row}", d.weather) for row, d in enumerate(days)]

"""monitor check / watch / trust / scaffold: thin click layer over branchml.api's alert checks."""

from __future__ import annotations

import click

from branchml import api
from branchml.cli.output import get_output, json_option, out_console
from branchml.errors import BranchmlError, CheckFailed

env_option = click.option("--env", help="Branch monitor/ENV (default: the checked-out monitor branch).")


@click.command("check")
@env_option
@click.option("--since", help="Only records newer than this (1d, 12h, 30m or an ISO date); default: all.")
@click.option("--no-commit", is_flag=True, help="Print the report; do not commit it onto the branch.")
@json_option
def check_cmd(env: str | None, since: str | None, no_commit: bool, as_json: bool) -> None:
    """Drift, outliers, prediction drift and calibration of monitor/ENV against the baselines of the
    tags that served it, judged by the branch's committed alerts/rules.py; exit 1 on an alert."""
    repo = api.open_repo()
    report = api.check_monitor(repo, api.CheckOptions(env=api.monitor_env(repo, env), since=api.parse_since(since)))
    if not no_commit:
        path = api.commit_check_report(repo.cwd, report)
        get_output().info(f"report {path} committed onto monitor/{report.env} ({str(report.committed)[:12]})")
    get_output().result(report.as_dict(), as_json,
                        lambda _: out_console.print(api.check_summary(report), markup=False, soft_wrap=True))
    if report.alert:
        raise CheckFailed(f"{len(report.alerts)} alert(s) on monitor/{report.env}", hint="see the report above")


@click.command("watch")
@env_option
@click.option("--since", help="Window of each check (1d, 12h...); default: all records.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between looks at the branch.")
@click.option("--max-checks", type=int, help="Stop after this many checks.")
@click.option("--once", is_flag=True, help="One check (as soon as the branch has logs), then stop.")
@click.option("--no-commit", is_flag=True, help="Do not commit the reports.")
def watch_cmd(env: str | None, since: str | None, interval: float, max_checks: int | None, once: bool, no_commit: bool) -> None:
    """Run the committed checks of monitor/ENV each time new logs are committed there (Ctrl-C stops).
    With --once or --max-checks, exit 1 when a check raised alerts."""
    repo = api.open_repo()
    options = api.CheckOptions(env=api.monitor_env(repo, env), since=api.parse_since(since))
    get_output().info(f"watching monitor/{options.env} (every {interval:g} s)")
    alerted = api.watch_monitor(repo, options, interval=interval, max_checks=1 if once else max_checks, commit=not no_commit,
                    on_report=_print_report)
    if alerted:
        raise CheckFailed(f"{alerted} check(s) raised alerts on monitor/{options.env}", hint="see the reports above")


def _print_report(report: api.CheckReport) -> None:
    verdict = f"{len(report.alerts)} alert(s)" if report.alert else "no alert"
    out_console.print(f"{report.checked_at} monitor/{report.env} @ {report.commit[:12]}: {verdict}", markup=False, soft_wrap=True)
    for alert in report.alerts:
        out_console.print(f"  ALERT {alert}", markup=False, soft_wrap=True)
    out_console.file.flush()  # a pipe (a supervisor, a test) sees each check as it happens


@click.command("trust")
@env_option
@click.option("--yes", is_flag=True, help="Do not ask.")
def trust_cmd(env: str | None, yes: bool) -> None:
    """Consent to running monitor/ENV's committed alerts/rules.py (this exact version) in this clone."""
    repo = api.open_repo()
    name = api.monitor_env(repo, env)
    blob, source = api.rules_to_trust(repo, name)
    out_console.print(source, markup=False, highlight=False, soft_wrap=True)
    if not yes and not click.confirm(f"Run this code ({api.RULES_PATH}, blob {blob[:12]}) when checking monitor/{name}?",
                                     default=False, err=True):
        raise BranchmlError("not trusted: nothing changed", hint="the checks refuse to run it until you trust it")
    api.trust_rules(repo, blob)
    get_output().info(f"trusted {api.RULES_PATH} blob {blob[:12]} of monitor/{name}")


@click.command("scaffold")
@env_option
def scaffold_cmd(env: str | None) -> None:
    """Commit the default alerts/rules.py onto monitor/ENV (for branches created before it existed)."""
    repo = api.open_repo()
    name = api.monitor_env(repo, env)
    made = api.scaffold_rules(repo, name)
    get_output().info(f"{api.RULES_PATH} committed onto monitor/{name} ({made[:12]})")

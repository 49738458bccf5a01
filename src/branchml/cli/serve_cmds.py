"""serve / monitor: thin click layer over branchml.api."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from branchml import api
from branchml.cli import alerts_cmds
from branchml.cli.output import get_output, json_option, out_console


@click.command()
@click.argument("tag")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: any free port, printed on start).")
@click.option("--env", default="dev", show_default=True, help="Log to the branch monitor/ENV.")
@click.option("--canary", "canaries", multiple=True, metavar="TAG=PCT%", help="Send this share of callers to TAG (sticky).")
@click.option("--shadow", "shadows", multiple=True, metavar="TAG", help="TAG also predicts every request; its answer is only logged.")
@click.option("--no-log", is_flag=True, help="Do not log queries (benchmarks, local tries).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds a prediction may take (then 504).")
@click.option("--max-body", default=16 << 20, show_default=True, help="Largest request body in bytes (then 413).")
@click.option("--caller-header", default="X-Caller-ID", show_default=True, help="Header whose value keeps a caller on one variant.")
@click.option("--caller-field", help="Feature column whose value keeps a caller on one variant (when no header).")
@click.option("--batch-records", default=1000, show_default=True, help="Commit logs every N records ...")
@click.option("--batch-seconds", default=5.0, show_default=True, help="... or every T seconds.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes on the one port, each with its own journal (a killed one is replaced).")
@click.option("--fsync/--no-fsync", default=False, show_default=True,
              help="Answer only once the journal line is on the disk (survives a power loss; costs a disk flush "
                   "per answer). Without: written before the answer (survives a killed server), flushed within 1 s.")
def serve(tag: str, host: str, port: int, env: str, canaries: tuple[str, ...], shadows: tuple[str, ...], no_log: bool,
          timeout: float, max_body: int, caller_header: str, caller_field: str | None, batch_records: int,
          batch_seconds: float, workers: int, fsync: bool) -> None:
    """Serve TAG's model (MLflow scoring protocol on /invocations), logging every query to monitor/ENV."""
    api.serve_model(api.open_repo(), tag, host=host, port=port, canaries=canaries, shadows=shadows, workers=workers,
                    env=env, log=not no_log, timeout=timeout, max_body=max_body, caller_header=caller_header,
                    caller_field=caller_field, batch_records=batch_records, batch_seconds=batch_seconds, fsync=fsync)


@click.group()
def monitor() -> None:
    """Production logs on monitor/<env> branches: import, label, query, check for alerts."""


for _command in (alerts_cmds.check_cmd, alerts_cmds.watch_cmd, alerts_cmds.trust_cmd, alerts_cmds.scaffold_cmd):
    monitor.add_command(_command)


@monitor.command("log")
@click.option("--env", required=True, help="Branch monitor/ENV.")
@click.option("--tag", required=True, help="The model tag that answered these queries.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def monitor_log(env: str, tag: str, path: Path, as_json: bool) -> None:
    """Commit queries logged elsewhere (JSON lines: features, prediction, [request_id, variant, latency_ms])."""
    result = api.import_queries(api.open_repo().cwd, env, tag, path)
    get_output().info(f"{result.records} record(s) of {tag} committed onto monitor/{env}")
    get_output().result(result.as_dict(), as_json, lambda r: None)


@monitor.command("label")
@click.option("--env", required=True, help="Branch monitor/ENV.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def monitor_label(env: str, path: Path, as_json: bool) -> None:
    """Commit ground truth (CSV or JSON lines with request_id and label) joined later by request_id."""
    added = api.add_labels(api.open_repo().cwd, env, path)
    get_output().info(f"{added.labels} label(s) committed onto monitor/{env} ({added.commit[:12]})")
    get_output().result(asdict(added), as_json, lambda r: None)


@monitor.command("logs")
@click.option("--tag", required=True, help="The model tag whose logs to find.")
@click.option("--env", "envs", multiple=True, help="Only these environments (default: every monitor/* branch).")
@click.option("--since", help="Only records newer than this (7d, 12h, 30m or an ISO date).")
@click.option("--labels", "with_labels", is_flag=True, help="Join the ground-truth labels by request_id.")
@json_option
def monitor_logs(tag: str, envs: tuple[str, ...], since: str | None, with_labels: bool, as_json: bool) -> None:
    """Every logged query of TAG on the monitor branches (E2: a customer's production logs from its tag)."""
    result = api.tag_records(api.open_repo().cwd, tag, list(envs) or None, since, labels=with_labels)
    get_output().result([found.as_dict() for found in result], as_json, _render_logs)


def _render_logs(result: list[dict[str, Any]]) -> None:
    if not result:
        out_console.print("no monitor branches in this repository")
    for env in result:
        out_console.print(f"[bold]monitor/{env['env']}[/]: {env['count']} record(s) in {env['parts']} part(s), "
                          f"{env['first'] or '-'} .. {env['last'] or '-'}, variants {env['variants']}")
        for record in env["records"][-10:]:
            out_console.print(f"  {record['ts']}  {record['request_id']}  {record['variant']}  -> {record['prediction']}"
                              + (f"  label {record['label']}" if "label" in record else ""))


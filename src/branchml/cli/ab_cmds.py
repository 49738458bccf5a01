"""`branchml ab report`: thin click layer over branchml.api."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from branchml import api
from branchml.cli.output import get_output, json_option, out_console


@click.group()
def ab() -> None:
    """Online experiments (A/B, forward and backward tests) read from monitor/<env> logs."""


@ab.command("report")
@click.option("--env", required=True, help="Read the branch monitor/ENV.")
@click.option("--metric", default="accuracy", show_default=True, type=click.Choice(api.METRICS),
              help="accuracy (labels), mae/mse (numeric labels), latency_ms (no labels).")
@click.option("--since", help="Only records newer than this (7d, 12h, 30m or an ISO date).")
@click.option("--confidence", default=0.95, show_default=True, help="Level of the intervals (alpha = 1 - confidence).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the report to this PNG/SVG/PDF file (needs the `plot` extra).")
@json_option
def ab_report(env: str, metric: str, since: str | None, confidence: float, plot_path: Path | None, as_json: bool) -> None:
    """Per tag and variant: n, metric and interval; each forward/backward test and tag change with its
    difference, p-value and the sample size it needs."""
    result = api.ab_report(api.open_repo(), env, metric, since, confidence)
    data = result.to_dict()
    if plot_path is not None:
        data["plot"] = str(api.plot_ab_report(result, plot_path))
        get_output().info(f"plot written to {plot_path}")
    get_output().result(data, as_json, _render)


def _render(data: dict[str, Any]) -> None:
    from rich.table import Table  # rich's renderers load only when output needs them

    metric = data["metric"]
    table = Table("variant", "tag", "records", "observed", metric, f"{data['confidence']:.0%} interval", "first", "last",
                  title=f"monitor/{data['env']}: {metric} per tag and variant")
    for arm in data["arms"]:
        est = arm["estimate"]
        table.add_row(arm["variant"], arm["tag"], str(arm["records"]), str(arm["observed"]),
                      _num(est and est["value"]), _interval(est), arm["first"][:19], arm["last"][:19])
    out_console.print(table)
    for exp in data["experiments"]:
        out_console.print(f"[bold]{exp['kind']} test[/]: {exp['candidate']} ({exp['candidate_n']} observed) against "
                          f"{exp['reference']} ({exp['reference_n']}), {exp['first'][:19]} .. {exp['last'][:19]}")
        cause = (f"{exp['candidate']} (the candidate)" if exp["kind"] != "backward"
                 else f"{exp['reference']}, seen in reverse (1% kept on the old {exp['candidate']})")
        _comparison(exp["comparison"], cause)
        for warning in exp["warnings"]:
            out_console.print(f"  [yellow]warning[/]: {warning}")
    for change in data["changes"]:
        out_console.print(f"[bold]change[/] at {change['at'][:19]}: {change['before']} -> {change['after']} "
                          f"({change['before_n']} / {change['after_n']} observed; before/after, not randomised)")
        _comparison(change["comparison"], change["after"])
    for warning in data["warnings"]:
        out_console.print(f"[yellow]warning[/]: {warning}")
    if data["labels_unmatched"]:
        out_console.print(f"{data['labels_unmatched']} label(s) match no logged query in this window (ignored)")


def _comparison(comp: dict[str, Any] | None, cause: str) -> None:
    if comp is None:
        out_console.print("  no comparison (an arm has no observation)")
        return
    needed = "-" if comp["needed_total"] is None else f"{comp['needed_total']} ({comp['needed_candidate']} on the candidate)"
    out_console.print(f"  difference {_num(comp['difference'], sign=True)} caused by {cause}, interval "
                      f"{_interval(comp)}, p={_p(comp['p_value'])} ({comp['method']}); "
                      f"records needed for 80% power at this effect: {needed}")


def _interval(est: dict[str, Any] | None) -> str:
    if not est or est["low"] is None or est["high"] is None:
        return "-"
    return f"[{_num(est['low'])}, {_num(est['high'])}]"


def _p(value: float | None) -> str:
    return "-" if value is None else ("<1e-16" if value < 1e-16 else f"{value:.3g}")


def _num(value: float | None, sign: bool = False, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}g}" if sign else f"{value:.{digits}g}"

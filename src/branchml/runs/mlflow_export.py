"""`branchml mlflow export`: rebuild an MLflow database from the run records, for `mlflow ui`.

The records on the tracking branch stay the source of truth; the database is derived, rebuilt
from scratch each time into a temporary file. MLflow's own client writes it, so the schema is
whatever the installed MLflow expects. One experiment per branch.

By default it lives in the store's folder (`<git common dir>/branchml/mlflow/mlflow.db`): not in the
work tree, where it would block the next `branchml run` (a run needs a clean tree) and match the
`*.db` patterns of the SQLite merge driver. An existing database is overwritten in place with
SQLite's backup API, not renamed over: a running `mlflow ui`/`mlflow server` keeps its connections
open, and after a rename they would go on reading the old, deleted file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from branchml.errors import BranchmlError
from branchml.repo import Repo
from branchml.runs import tracking
from branchml.runs.settings import run_settings


@dataclass(frozen=True)
class MlflowExport:
    """What `mlflow export` wrote: the database, how many runs, the experiments (one per branch)."""

    db: str
    runs: int
    experiments: list[str]

    def as_dict(self) -> dict[str, Any]:
        """`mlflow export --json`."""
        return asdict(self)


def default_db(repo: Repo) -> Path:
    return repo.store_dir / "mlflow" / "mlflow.db"


def export(repo: Repo, db_path: Path | None = None, branch: str | None = None) -> MlflowExport:
    """Rebuild an MLflow database from the run records of `branch` (default: the tracking branch of [run])."""
    try:
        from mlflow.entities import (  # optional extra `mlflow`: export only
            Metric,
            Param,
            RunTag,
        )
        from mlflow.tracking import MlflowClient  # optional extra `mlflow`: export only
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"MLflow is not installed ({exc.name})", hint="pip install 'branchml[mlflow]'") from exc
    records = tracking.read_records(repo, branch or run_settings(repo).tracking_branch)
    db_path = (db_path or default_db(repo)).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}")
        experiments: dict[str, str] = {}
        for record in sorted(records, key=lambda r: r.started):
            exp = record.branch or "branchml"
            if exp not in experiments:
                experiments[exp] = client.create_experiment(exp)
            _log_run(client, experiments[exp], record, Metric, Param, RunTag)
        _install(tmp, db_path)
    finally:
        tmp.unlink(missing_ok=True)
    return MlflowExport(str(db_path), len(records), sorted(experiments))


def _install(built: Path, db_path: Path) -> None:
    """Put the new database at `db_path`: renamed into place the first time, else copied into the
    existing file in one SQLite transaction, so open readers see the new runs (and never half of them)."""
    if not db_path.exists():
        os.replace(built, db_path)
        return
    source, target = sqlite3.connect(built), sqlite3.connect(db_path, timeout=30)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _log_run(client: Any, experiment_id: str, record: tracking.RunRecord, Metric: Any, Param: Any, RunTag: Any) -> None:
    # client and classes from mlflow, imported by the caller (an optional extra, untyped here)
    start = _millis(record.started)
    run = client.create_run(experiment_id, start_time=start, run_name=record.tag, tags={
        "branchml.tag": record.tag,
        "branchml.commit": record.commit,
        "branchml.branch": record.branch,
        "mlflow.source.git.commit": record.code_commit,
        "mlflow.source.name": " ".join(record.command),
    })
    run_id = run.info.run_id
    params = [Param(k, v if isinstance(v, str) else json.dumps(v)) for k, v in record.params.items()]
    metrics = [Metric(k, float(v), start or 0, 0) for k, v in record.metrics.items()]
    lineage = RunTag("branchml.data_lineage", json.dumps(record.data_lineage)[:5000])
    client.log_batch(run_id, metrics=metrics, params=params, tags=[lineage])
    client.set_terminated(run_id, "FINISHED", end_time=_millis(record.finished))


def _millis(stamp: str | None) -> int | None:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000) if stamp else None

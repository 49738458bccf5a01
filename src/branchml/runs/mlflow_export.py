"""`branchml mlflow export`: rebuild an MLflow database from the run records, for `mlflow ui`.

The records on the tracking branch stay the source of truth; the database is derived, rebuilt
from scratch each time into a temporary file and renamed over the old one. MLflow's own client
writes it, so the schema is whatever the installed MLflow expects. One experiment per branch.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from branchml.errors import BranchmlError
from branchml.runs import tracking


def export(repo, db_path: Path, branch: str = "main") -> dict:
    try:
        from mlflow.entities import (  # optional extra `mlflow`: export only
            Metric,
            Param,
            RunTag,
        )
        from mlflow.tracking import MlflowClient  # optional extra `mlflow`: export only
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"MLflow is not installed ({exc.name})", hint="pip install 'branchml[mlflow]'") from exc
    records = tracking.read_records(repo, branch)
    db_path = db_path.resolve()
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}")
        experiments: dict[str, str] = {}
        for record in sorted(records, key=lambda r: r.get("started", "")):
            exp = record.get("branch") or "branchml"
            if exp not in experiments:
                experiments[exp] = client.create_experiment(exp)
            _log_run(client, experiments[exp], record, Metric, Param, RunTag)
        os.replace(tmp, db_path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"db": str(db_path), "runs": len(records), "experiments": sorted(experiments)}


def _log_run(client, experiment_id: str, record: dict, Metric, Param, RunTag) -> None:
    start = _millis(record.get("started"))
    run = client.create_run(experiment_id, start_time=start, run_name=record["tag"], tags={
        "branchml.tag": record["tag"],
        "branchml.commit": record.get("commit", ""),
        "branchml.branch": record.get("branch", ""),
        "mlflow.source.git.commit": record.get("code_commit", ""),
        "mlflow.source.name": " ".join(record.get("command", [])),
    })
    run_id = run.info.run_id
    params = [Param(k, v if isinstance(v, str) else json.dumps(v)) for k, v in record.get("params", {}).items()]
    metrics = [Metric(k, float(v), start or 0, 0) for k, v in record.get("metrics", {}).items()]
    lineage = RunTag("branchml.data_lineage", json.dumps(record.get("data_lineage", {}))[:5000])
    client.log_batch(run_id, metrics=metrics, params=params, tags=[lineage])
    client.set_terminated(run_id, "FINISHED", end_time=_millis(record.get("finished")))


def _millis(stamp: str | None) -> int | None:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000) if stamp else None

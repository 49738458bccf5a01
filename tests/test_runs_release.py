"""Releases, `show` with data lineage, and the MLflow export: built from real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import bml, git
from runs_helpers import stable_repo


def _run(repo, seed: str) -> None:
    subprocess.run([sys.executable, "-m", "branchml", "run", "--", sys.executable, "train.py", "{tag}"],
                   cwd=repo, check=True, capture_output=True, env={**os.environ, "SEED": seed})


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """acme-1 with an extra file, then acme-2 without it and with another model; lineage trailers.

    Built once for the module: the tests below only read it.
    """
    repo = tmp_path_factory.mktemp("released") / "repo"
    bml(repo.parent, "init", str(repo))
    stable_repo(repo)
    (repo / "data").mkdir()
    (repo / "data/train.csv").write_text("x,y\n1,2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "customer data", "--trailer", "Data-From: data/split@" + "a" * 40)
    (repo / "old.txt").write_text("only in acme-1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add old.txt")
    _run(repo, "1")
    git(repo, "rm", "-q", "old.txt")
    git(repo, "commit", "-qm", "drop old.txt")
    _run(repo, "3")
    return repo


RELEASED = ["MODEL_CARD.md", "metrics.json", "models/model.bin"]


def test_release_get_latest_writes_only_what_the_release_includes(released, tmp_path):
    repo = released
    listed = json.loads(bml(repo, "release", "list", "acme", "--json").stdout)
    assert [r["tag"] for r in listed] == ["acme-1", "acme-2"]
    dest = tmp_path / "deploy"
    got = json.loads(bml(repo, "release", "get", "acme", "--latest", "--to", str(dest), "--json").stdout)
    assert got["tag"] == "acme-2"
    assert sorted(got) == ["commit", "files", "tag", "to"] and got["to"] == str(dest.resolve())  # ReleaseWritten.as_dict
    on_disk = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert on_disk == RELEASED  # no training data, no training code, no params
    assert "data/train.csv" in git(repo, "ls-tree", "-r", "--name-only", "acme-2").split()
    # the tracked model is materialised from the store with acme-2's bytes (seed 3), not a pointer
    assert (dest / "models/model.bin").read_bytes() == bytes((i * 3) % 251 for i in range(300_000))
    assert json.loads((dest / "metrics.json").read_text())["accuracy"] == 0.53
    # a non-empty destination is refused unless --force; with --force it is replaced as a whole
    refused = bml(repo, "release", "get", "acme", "--tag", "acme-1", "--to", str(dest), check=False)
    assert refused.returncode != 0 and b"not empty" in refused.stderr
    bml(repo, "release", "get", "acme", "--tag", "acme-1", "--to", str(dest), "--force")
    assert not (dest / "old.txt").exists()
    assert (dest / "models/model.bin").read_bytes() == bytes(i % 251 for i in range(300_000))
    missing = bml(repo, "release", "get", "initech", "--latest", "--to", str(tmp_path / "x"), check=False)
    assert missing.returncode != 0 and b"no release tags initech-<n>" in missing.stderr
    assert b"--customer initech" in missing.stderr  # the hint is filled in
    assert not (tmp_path / "x").exists()


def test_release_contents_follow_release_include_and_serve_predict():
    from branchml.runs.contents import contents_of

    default = contents_of('[serve]\npredict = "src/serve/predict.py:predict"\n')
    assert [p for p in ["models/a/b.onnx", "MODEL_CARD.md", "metrics.json", "src/serve/predict.py",
                        "src/train.py", "data/train.csv", "params.json", "x/metrics.json"] if default.includes(p)] == [
        "models/a/b.onnx", "MODEL_CARD.md", "metrics.json", "src/serve/predict.py"]
    assert contents_of('[serve]\npredict = "app.infer:run"\n').includes("app/infer.py")
    served = contents_of('[serve]\npredict = "src/p.py:f"\nmodel = "artifacts/m.skops"\ninput_schema = "schema.json"\n')
    assert served.includes("artifacts/m.skops") and served.includes("schema.json") and not served.includes("src/q.py")
    listed = contents_of('[release]\ninclude = ["/models/**", "/data/vocab.txt"]\n')
    assert listed.includes("data/vocab.txt") and not listed.includes("data/train.csv")
    assert not listed.includes("MODEL_CARD.md")


def test_customer_gets_a_release_in_an_empty_folder_learning_the_blob_remote(tmp_path, monkeypatch):
    """The README's customer recipe: no repository, no configuration, only the Git remote's URL."""
    repo, server, blobs = tmp_path / "repo", tmp_path / "server.git", tmp_path / "blobs"
    bml(tmp_path, "init", str(repo))
    bml(repo, "remote", "add", "origin", str(blobs))
    stable_repo(repo)  # commits the blob remote on main, then stable/acme
    (repo / "data").mkdir()
    (repo / "data/train.csv").write_text("x,y\n1,2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "customer data")
    _run(repo, "2")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(server))
    git(repo, "remote", "add", "origin", str(server))
    git(repo, "push", "-q", "origin", "stable/acme", "main", "--follow-tags")
    customer = tmp_path / "customer"
    customer.mkdir()
    monkeypatch.setenv("BRANCHML_CACHE", str(tmp_path / "cache"))
    got = json.loads(bml(customer, "release", "get", "acme", "--latest", "--remote", str(server),
                         "--to", "./deploy", "--json").stdout)
    assert got["tag"] == "acme-1" and sorted(got["files"]) == RELEASED
    assert (customer / "deploy/models/model.bin").read_bytes() == bytes((i * 2) % 251 for i in range(300_000))
    assert sorted(p.name for p in customer.iterdir()) == ["deploy"]  # nothing else written here
    _run(repo, "5")  # tomorrow's retraining
    git(repo, "push", "-q", "origin", "stable/acme", "main", "--follow-tags")
    bml(customer, "release", "get", "acme", "--latest", "--remote", str(server), "--to", "./deploy", "--force")
    assert (customer / "deploy/models/model.bin").read_bytes() == bytes((i * 5) % 251 for i in range(300_000))


def test_release_that_cannot_be_had_names_the_files_and_writes_nothing(released, tmp_path, monkeypatch):
    """This set-up has no blob remote and never pushed, so its Git remote holds no chunks: the
    tracked model cannot be had; the error names it and no folder is left behind."""
    monkeypatch.setenv("BRANCHML_CACHE", str(tmp_path / "cache"))
    dest = tmp_path / "d"
    proc = bml(tmp_path, "release", "get", "acme", "--remote", str(released), "--to", str(dest), check=False)
    assert proc.returncode == 5 and b"models/model.bin" in proc.stderr and b"holds no branchml data" in proc.stderr
    assert not dest.exists() and list(tmp_path.glob(".d.*")) == []


def test_show_answers_where_a_tag_came_from(released):
    shown = json.loads(bml(released, "show", "acme-1", "--json").stdout)
    assert shown["commit"] == git(released, "rev-parse", "acme-1^{commit}").strip()
    assert shown["branch"] == "stable/acme" and shown["metrics"]["accuracy"] == 0.51
    assert {"key": "Data-From", "value": "data/split@" + "a" * 40} == {
        k: v for k, v in shown["data_lineage"]["entries"][0].items() if k != "commit"}
    files = {f["path"]: f for f in shown["files"]}
    assert files["models/model.bin"] == {"path": "models/model.bin", "mode": "100644", "size": 300_000, "store": True}
    assert "old.txt" in files
    unknown = bml(released, "show", "nope-1", check=False)
    assert unknown.returncode != 0 and b"no tag 'nope-1'" in unknown.stderr


def test_mlflow_export(released, tmp_path):
    pytest.importorskip("mlflow", reason="MLflow export needs the `mlflow` extra")
    pytest.importorskip("sqlalchemy", reason="MLflow's SQLite store needs sqlalchemy (the `mlflow` extra)")
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    result = json.loads(bml(released, "mlflow", "export", "--db", str(db), "--json").stdout)
    assert result == {"db": str(db.resolve()), "runs": 2, "experiments": ["stable/acme"]}  # MlflowExport.as_dict
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp = client.get_experiment_by_name("stable/acme")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"acme-1", "acme-2"}
    assert runs["acme-2"].data.metrics["accuracy"] == 0.53
    assert runs["acme-2"].data.params["seed"] == "3"
    assert runs["acme-2"].data.tags["branchml.commit"] == git(released, "rev-parse", "acme-2^{commit}").strip()


def test_mlflow_export_lives_in_the_store_and_an_open_reader_sees_a_reexport(released, tmp_path):
    pytest.importorskip("mlflow", reason="MLflow export needs the `mlflow` extra")
    pytest.importorskip("sqlalchemy", reason="MLflow's SQLite store needs sqlalchemy (the `mlflow` extra)")
    import shutil

    from mlflow.tracking import MlflowClient

    repo = tmp_path / "repo"
    shutil.copytree(released, repo, symlinks=True)
    out = bml(repo, "mlflow", "export")
    db = repo / ".git/branchml/mlflow/mlflow.db"
    assert db.is_file() and git(repo, "status", "--porcelain") == ""  # nothing in the work tree
    said = out.stderr.decode() + out.stdout.decode()
    assert f"mlflow ui --backend-store-uri sqlite:///{db}" in said.replace("\n", "")
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")  # holds pooled connections, like a running `mlflow ui`
    exp = client.get_experiment_by_name("stable/acme")
    assert {r.info.run_name for r in client.search_runs([exp.experiment_id])} == {"acme-1", "acme-2"}
    _run(repo, "5")  # the work tree is clean: the database does not block the next run
    bml(repo, "mlflow", "export")
    exp = client.get_experiment_by_name("stable/acme")
    assert {r.info.run_name for r in client.search_runs([exp.experiment_id])} == {"acme-1", "acme-2", "acme-3"}


def test_show_is_a_dataclass_whose_as_dict_is_what_json_prints(released):
    import branchml
    from branchml.runs.show import RunInfo, TreeFile

    info = branchml.show(branchml.open_repo(released), "acme-1")
    assert isinstance(info, RunInfo) and info.monitor is None
    assert TreeFile("models/model.bin", "100644", 300_000, True) in info.files
    assert info.as_dict() == json.loads(bml(released, "show", "acme-1", "--json").stdout)
    assert "monitor" not in info.as_dict()  # only when asked: `show --monitor`
    with_logs = branchml.show(branchml.open_repo(released), "acme-1", monitor=True)
    assert with_logs.monitor == [] and with_logs.as_dict()["monitor"] == []

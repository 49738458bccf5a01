"""branchml:// through fsspec for pandas, pyarrow, polars and DuckDB; writes that commit; branchml get."""

from __future__ import annotations

import io
import json

import fsspec
import pytest

from conftest import bml, git
from data_helpers import csv_bytes, parquet
from remote_support import commit_all, project, write_random

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")
pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")

ROWS = [{"id": i, "name": f"n{i}", "value": i * 0.5} for i in range(200)]


def _raw_repo(repo):
    """data/raw holds a tracked CSV and Parquet file and is tagged raw-1; main is checked out."""
    bml(repo, "track", "data/**")
    commit_all(repo, "track data")
    git(repo, "switch", "-qc", "data/raw")
    (repo / "data").mkdir()
    (repo / "data/x.csv").write_bytes(csv_bytes(["id", "name"], [[str(r["id"]), r["name"]] for r in ROWS]))
    (repo / "data/table").mkdir()
    (repo / "data/table/part-0.parquet").write_bytes(parquet(ROWS[:100]))
    (repo / "data/table/part-1.parquet").write_bytes(parquet(ROWS[100:]))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "upload", "--trailer", "Data-Source: test")
    git(repo, "tag", "raw-1")
    git(repo, "switch", "-q", "main")
    assert not (repo / "data/x.csv").exists()
    return repo


def test_the_filesystem_is_registered_and_reads_any_branch_or_tag_byte_for_byte(repo):
    _raw_repo(repo)
    fs = fsspec.filesystem("branchml", repo=str(repo))
    assert fs.cat("branchml://data/raw/data/x.csv") == csv_bytes(["id", "name"], [[str(r["id"]), r["name"]] for r in ROWS])
    assert fs.cat("raw-1/data/table/part-0.parquet") == parquet(ROWS[:100])
    assert fs.cat_file("data/raw/data/x.csv", start=3, end=9) == fs.cat("data/raw/data/x.csv")[3:9]
    assert sorted(fs.ls("data/raw/data", detail=False)) == ["data/raw/data/table", "data/raw/data/x.csv"]
    assert fs.info("raw-1/data/x.csv")["size"] == len(fs.cat("raw-1/data/x.csv")) and fs.info("raw-1/data/x.csv")["oid"]
    assert fs.info("data/raw/data")["type"] == "directory"
    assert fs.glob("data/raw/data/table/*.parquet") == ["data/raw/data/table/part-0.parquet", "data/raw/data/table/part-1.parquet"]
    commit = git(repo, "rev-parse", "raw-1").strip()
    assert fs.cat(f"{commit}/data/x.csv") == fs.cat("raw-1/data/x.csv")


def test_pandas_pyarrow_polars_and_duckdb_read_through_branchml_urls(repo):
    _raw_repo(repo)
    options = {"repo": str(repo)}
    frame = pd.read_csv("branchml://data/raw/data/x.csv", storage_options=options)
    assert list(frame["id"]) == [r["id"] for r in ROWS]
    assert pd.read_parquet("branchml://raw-1/data/table/part-1.parquet", storage_options=options)["value"].sum() == sum(r["value"] for r in ROWS[100:])
    fs = fsspec.filesystem("branchml", **options)
    table = ds.dataset("data/raw/data/table/", format="parquet", filesystem=fs).to_table()
    assert table.num_rows == len(ROWS)
    with fsspec.open("branchml://data/raw/data/x.csv", **options) as f:
        assert pl.read_csv(f)["name"].to_list() == [r["name"] for r in ROWS]
    db = duckdb.connect()
    db.register_filesystem(fs)
    assert db.execute("select count(*), max(id) from read_csv('branchml://data/raw/data/x.csv')").fetchall() == [(len(ROWS), 199)]


def test_unknown_refs_and_paths_outside_the_tree_are_file_not_found(repo):
    _raw_repo(repo)
    fs = fsspec.filesystem("branchml", repo=str(repo))
    for path in ("nope/data/x.csv", "data/raw/data/missing.csv", "data/raw/../etc/passwd", "main/-x", "--all/x"):
        with pytest.raises(FileNotFoundError):
            fs.cat(path)


def _head(repo, ref):
    return git(repo, "rev-parse", ref).strip()


def test_a_write_is_one_commit_with_its_source_and_the_role_rules_refuse_edits(repo):
    _raw_repo(repo)
    before = _head(repo, "data/raw")
    data = b"id,name\n1,new\n" * 1000
    with fsspec.open("branchml://data/raw/data/uploads/new.csv", "wb", repo=str(repo), message="CRM export", source="crm 2026-11") as f:
        f.write(data)
    after = _head(repo, "data/raw")
    assert git(repo, "rev-parse", f"{after}^").strip() == before
    message = git(repo, "log", "-1", "--format=%B", after)
    assert message.startswith("CRM export") and "Data-Source: crm 2026-11" in message
    assert git(repo, "show", f"{after}:data/uploads/new.csv").startswith("branchml pointer v1")  # through the store
    fs = fsspec.filesystem("branchml", repo=str(repo))
    assert fs.cat("data/raw/data/uploads/new.csv") == data
    assert git(repo, "status", "--porcelain") == "" and _head(repo, "HEAD") == _head(repo, "main")

    edit = fsspec.open("branchml://data/raw/data/x.csv", "wb", repo=str(repo), source="edit")
    with pytest.raises(Exception, match="append") as refused, edit as f:  # data/raw is append-only
        f.write(b"id,name\n")
    assert "violation" in str(refused.value)
    with pytest.raises(Exception, match="violation"):
        fs.rm("data/raw/data/x.csv")
    assert _head(repo, "data/raw") == after


def test_writes_to_tags_or_a_checked_out_branch_are_refused(repo):
    _raw_repo(repo)
    fs = fsspec.filesystem("branchml", repo=str(repo))
    with pytest.raises(FileNotFoundError):
        fs.pipe_file("raw-1/data/y.csv", b"x")
    with pytest.raises(Exception, match="checked out"):
        fs.pipe_file("main/notes.txt", b"x")


def test_a_parquet_column_read_from_a_fresh_clone_fetches_only_the_chunks_it_needs(tmp_path):
    import pyarrow as pa

    src = project(tmp_path, str(tmp_path / "blobs"))
    rng = __import__("random").Random(3)
    table = pa.table({"a": [rng.random() for _ in range(300_000)], "b": [rng.randbytes(24) for _ in range(300_000)]})
    (src / "data").mkdir()
    pq.write_table(table, src / "data" / "big.parquet", row_group_size=50_000, compression="none")
    write_random(src / "data" / "other.bin", 100_000, 1)
    commit_all(src, "a large parquet file")
    git(src, "push", "-q", "origin", "main")
    copy = tmp_path / "copy"
    git(tmp_path, "clone", "-q", str(tmp_path / "proj-server.git"), str(copy))  # pointers only
    fs = fsspec.filesystem("branchml", repo=str(copy), skip_instance_cache=True)
    with fs.open("main/data/big.parquet", block_size=1 << 16) as f:
        column = pq.ParquetFile(f).read_row_group(0, columns=["a"])
    assert column.column("a").to_pylist() == table.column("a").to_pylist()[:50_000]
    stats = json.loads(bml(copy, "stats", "--json").stdout)
    size = (src / "data" / "big.parquet").stat().st_size
    assert 0 < stats["stored_bytes"] < size / 4, (stats, size)  # the footer and one column of one row group


def test_get_writes_a_folder_of_another_repository_without_keeping_a_clone(tmp_path):
    src = project(tmp_path, str(tmp_path / "blobs"))
    (src / "data" / "split").mkdir(parents=True)
    (src / "data" / "split" / "train.csv").write_bytes(b"a,b\n1,2\n" * 5000)
    write_random(src / "data" / "split" / "test.bin", 300_000, 2)
    commit_all(src, "split")
    git(src, "tag", "acme-4")
    git(src, "push", "-q", "origin", "main", "acme-4")
    out = tmp_path / "out"
    result = json.loads(bml(tmp_path, "get", str(tmp_path / "proj-server.git"), "data/split", "--rev", "acme-4",
                            "--to", str(out), "--json").stdout)
    assert sorted(result["files"]) == ["data/split/test.bin", "data/split/train.csv"]
    assert (out / "train.csv").read_bytes() == (src / "data/split/train.csv").read_bytes()
    assert (out / "test.bin").read_bytes() == (src / "data/split/test.bin").read_bytes()
    again = bml(tmp_path, "get", str(tmp_path / "proj-server.git"), "data/split", "--rev", "nope", "--to", str(tmp_path / "x"), check=False)
    assert again.returncode == 1 and b"no branch or tag 'nope'" in again.stderr and not (tmp_path / "x").exists()
    assert bml(tmp_path, "get", str(tmp_path / "proj-server.git"), "data/split", "--rev", "acme-4", "--to", str(out), check=False).returncode == 1


def test_pandas_writes_a_csv_through_a_branchml_url(repo):
    _raw_repo(repo)
    frame = pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    frame.to_csv("branchml://data/raw/data/uploads/pandas.csv", index=False,
                 storage_options={"repo": str(repo), "source": "pandas"})
    shown = git(repo, "show", "data/raw:data/uploads/pandas.csv")
    assert shown.startswith("branchml pointer v1")
    assert pd.read_csv(io.BytesIO(fsspec.filesystem("branchml", repo=str(repo)).cat("data/raw/data/uploads/pandas.csv"))).equals(frame)


def test_a_git_url_as_repo_reads_a_ref_of_another_repository_shallow_and_read_only(tmp_path):
    src = project(tmp_path, str(tmp_path / "blobs"))
    (src / "data").mkdir()
    (src / "data" / "t.csv").write_bytes(b"id,v\n" + b"1,2\n" * 3000)
    commit_all(src, "data")
    git(src, "tag", "acme-1")
    git(src, "push", "-q", "origin", "main", "acme-1")
    url = f"file://{tmp_path / 'proj-server.git'}"
    frame = pd.read_csv("branchml://acme-1/data/t.csv", storage_options={"repo": url})
    assert len(frame) == 3000 and list(frame.columns) == ["id", "v"]
    fs = fsspec.filesystem("branchml", repo=url, skip_instance_cache=True)
    assert fs.cat("main/data/t.csv") == (src / "data" / "t.csv").read_bytes()
    with pytest.raises(FileNotFoundError):
        fs.cat("nope/data/t.csv")
    with pytest.raises(PermissionError):
        fs.pipe_file("main/data/new.csv", b"x")


def test_a_transaction_is_one_commit_and_a_failed_one_commits_nothing(repo):
    _raw_repo(repo)
    fs = fsspec.filesystem("branchml", repo=str(repo), source="batch export", skip_instance_cache=True)
    before = _head(repo, "data/raw")
    with fs.transaction:
        fs.pipe_file("data/raw/data/uploads/a.csv", b"id\n1\n")
        fs.pipe_file("data/raw/data/uploads/b.csv", b"id\n2\n")
    after = _head(repo, "data/raw")
    assert git(repo, "rev-list", "--count", f"{before}..{after}").strip() == "1"
    assert fs.cat("data/raw/data/uploads/b.csv") == b"id\n2\n"
    with pytest.raises(RuntimeError), fs.transaction:
        fs.pipe_file("data/raw/data/uploads/c.csv", b"id\n3\n")
        raise RuntimeError("the job failed half way")
    assert _head(repo, "data/raw") == after

"""No commit carries an unresolved merge: the commit hooks (also under rebase, cherry-pick, revert and
`commit --no-verify`), `branchml verify` and the server's pre-receive hook all refuse one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from branchml.merge.unresolved import has_conflict_markers
from conftest import bml, git, run

CONFLICTS = "branchml_merge_conflicts"


def sql(db: Path, script: str) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(script)
    conn.commit()
    conn.close()


def rebase_with_row_conflict(repo: Path) -> Path:
    """data/app.db: a row changed differently on main and on dev/x; rebasing dev/x onto main stops."""
    bml(repo, "track", "*.db")
    db = repo / "data" / "app.db"
    db.parent.mkdir()
    sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'base');")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "switch", "-q", "-c", "dev/x")
    sql(db, "UPDATE t SET v = 'dev' WHERE id = 1")
    git(repo, "commit", "-q", "-am", "dev")
    git(repo, "switch", "-q", "main")
    sql(db, "UPDATE t SET v = 'main' WHERE id = 1")
    git(repo, "commit", "-q", "-am", "main")
    git(repo, "switch", "-q", "dev/x")
    stopped = run(["git", "rebase", "main"], repo, check=False)
    assert stopped.returncode != 0
    assert CONFLICTS in str(sql_tables(db))
    return db


def sql_tables(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        conn.close()


def test_rebase_continue_refuses_a_database_with_its_conflicts_table(repo):
    db = rebase_with_row_conflict(repo)
    git(repo, "add", "data/app.db")
    refused = run(["git", "-c", "core.editor=true", "rebase", "--continue"], repo, check=False)
    assert refused.returncode != 0
    assert f"data/app.db still holds the table {CONFLICTS}" in refused.stderr.decode()
    assert git(repo, "log", "-1", "--format=%s", "HEAD") == "main\n"  # nothing of dev was committed
    sql(db, f"UPDATE t SET v = 'both' WHERE id = 1; DROP TABLE {CONFLICTS};")
    git(repo, "add", "data/app.db")
    run(["git", "-c", "core.editor=true", "rebase", "--continue"], repo)
    assert git(repo, "log", "-1", "--format=%s", "HEAD") == "dev\n"


def csv_conflict(repo: Path) -> None:
    """data/labels.csv keyed by id, changed differently on both sides: `git merge` leaves markers."""
    toml = repo / "branchml.toml"
    toml.write_text(toml.read_text().replace("[merge.rows.keys]", '[merge.rows.keys]\n"data/labels.csv" = "id"'))
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data/labels.csv").write_text("id,label\n1,cat\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "switch", "-q", "-c", "dev/x")
    (repo / "data/labels.csv").write_text("id,label\n1,tiger\n")
    git(repo, "commit", "-q", "-am", "dev")
    git(repo, "switch", "-q", "-")
    (repo / "data/labels.csv").write_text("id,label\n1,lion\n")
    git(repo, "commit", "-q", "-am", "main")
    assert run(["git", "merge", "--no-edit", "dev/x"], repo, check=False).returncode == 1
    assert "<<<<<<< ours (id=1)" in (repo / "data/labels.csv").read_text()
    git(repo, "add", "data/labels.csv")


def test_commit_no_verify_refuses_rows_with_conflict_markers(repo):
    csv_conflict(repo)
    refused = run(["git", "commit", "--no-verify", "--no-edit"], repo, check=False)
    assert refused.returncode != 0
    assert "data/labels.csv still holds conflict markers" in refused.stderr.decode()


def test_verify_and_the_server_catch_a_commit_made_without_hooks(repo, tmp_path):
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    bml(server, "install", "--server")
    git(repo, "remote", "add", "origin", str(server))
    git(repo, "switch", "-q", "-c", "data/clean")  # a branch where data files belong
    csv_conflict(repo)
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--no-edit")  # as a clone without hooks would
    found = bml(repo, "verify", "HEAD~1..HEAD", check=False)
    assert found.returncode == 1
    assert "data/labels.csv" in found.stdout.decode() and "conflict markers" in found.stdout.decode()
    pushed = run(["git", "push", "--no-verify", "origin", "data/clean"], repo, check=False)
    assert pushed.returncode != 0
    assert "data/labels.csv" in pushed.stderr.decode() and "conflict markers" in pushed.stderr.decode()


def test_conflict_markers_are_found_across_chunk_boundaries():
    text = b"id,v\n1,a\n<<<<<<< ours (id=2)\n2,b\n=======\n2,c\n>>>>>>> theirs (id=2)\n"
    for cut in range(1, len(text)):
        assert has_conflict_markers([text[:cut], text[cut:]])
    assert has_conflict_markers([text[i:i + 1] for i in range(len(text))])
    assert not has_conflict_markers([b"id,v\n1,<<<<<<< x\n>>>>>>> y\n"])
    assert not has_conflict_markers([b"<<<<<<< only an opening line\n2,b\n"])


def test_cherry_pick_continue_refuses_rows_with_conflict_markers(repo):
    toml = repo / "branchml.toml"
    toml.write_text(toml.read_text().replace("[merge.rows.keys]", '[merge.rows.keys]\n"data/labels.csv" = "id"'))
    (repo / "data").mkdir()
    (repo / "data/labels.csv").write_text("id,label\n1,cat\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "switch", "-q", "-c", "dev/x")
    (repo / "data/labels.csv").write_text("id,label\n1,tiger\n")
    git(repo, "commit", "-q", "-am", "dev")
    git(repo, "switch", "-q", "main")
    (repo / "data/labels.csv").write_text("id,label\n1,lion\n")
    git(repo, "commit", "-q", "-am", "main")
    assert run(["git", "cherry-pick", "dev/x"], repo, check=False).returncode != 0
    git(repo, "add", "data/labels.csv")
    refused = run(["git", "-c", "core.editor=true", "cherry-pick", "--continue"], repo, check=False)
    assert refused.returncode != 0 and "data/labels.csv still holds conflict markers" in refused.stderr.decode()
    (repo / "data/labels.csv").write_text("id,label\n1,tiger\n")
    git(repo, "add", "data/labels.csv")
    run(["git", "-c", "core.editor=true", "cherry-pick", "--continue"], repo)
    assert git(repo, "show", "HEAD:data/labels.csv") == "id,label\n1,tiger\n"

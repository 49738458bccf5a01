"""Small holes of issue 11: leftovers of killed pushes, honest push reports, remote timeouts,
wrongly typed settings, and a full disk. Real Git, real processes, a real S3 server (moto) and a
real hung TCP endpoint on loopback, a real small tmpfs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from branchml.errors import ExitCode
from conftest import bml
from remote_support import commit_all, project, write_random
from test_remote_s3 import s3, s3_url  # noqa: F401  (the module-scoped moto server fixture)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def fake_leftover(tmp: Path, pid: int) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"push-{os.urandom(8).hex()}-{pid}.part"
    path.write_bytes(b"x" * 50_000)
    return path


# -- settings ---------------------------------------------------------------------------------------
def test_a_wrongly_typed_setting_is_one_line_naming_the_file_and_the_setting(repo):
    bml(repo, "track", "data/**")
    settings = repo / "branchml.toml"
    settings.write_text(settings.read_text().replace("inline_below = 0", 'inline_below = "abc"'))
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(os.urandom(1000))
    add = subprocess.run(["git", "add", "data/a.bin"], cwd=repo, capture_output=True, check=False)
    err = add.stderr.decode()
    assert "Traceback" not in err and "branchml.toml: setting [store] inline_below must be an integer, not a string 'abc'" in err
    proc = bml(repo, "status", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.SETTING_WRONG and "Traceback" not in err, err
    assert f"{repo / 'branchml.toml'}: setting [store] inline_below must be an integer" in err


def test_settings_of_the_right_type_and_free_tables_pass(repo):
    settings = repo / "branchml.toml"
    settings.write_text(settings.read_text().replace("inline_below = 0", "inline_below = 4096")
                        .replace("[merge.rows.keys]", '[merge.rows.keys]\n"a.csv" = "id"'))
    assert bml(repo, "status").returncode == 0


# -- leftovers of killed processes ---------------------------------------------------------------------
def test_gc_reclaims_the_tmp_files_of_dead_processes_only(repo):
    tmp = repo / ".git" / "branchml" / "tmp"
    dead, live = fake_leftover(tmp, dead_pid()), fake_leftover(tmp, os.getpid())
    merge_dir = tmp / f"branchml-merge-{dead_pid()}-abc"
    merge_dir.mkdir()
    (merge_dir / "ours").write_bytes(b"y" * 1000)
    report = json.loads(bml(repo, "gc", "--json").stdout)
    assert not dead.exists() and not merge_dir.exists() and live.exists()
    assert report["leftovers"] == 2 and report["leftover_bytes"] == 51_000


def test_a_killed_s3_push_is_cleaned_up_and_the_next_push_reports_what_it_sent(tmp_path, s3):  # noqa: F811
    src = project(tmp_path, s3_url(), options=("pack_size=300000", "jobs=1"))
    for i in range(4):
        write_random(src / "data" / f"f{i}.bin", 250_000, 40 + i)
    commit_all(src, "data")
    tmp = src / ".git" / "branchml" / "tmp"
    stale = fake_leftover(tmp, dead_pid())
    # killed right after its first pack is uploaded, before that pack's index (upload 1 is the format marker)
    env = {**os.environ, "BRANCHML_TEST_KILL_AFTER_UPLOADS": "2"}
    killed = subprocess.run([sys.executable, "-m", "branchml", "push"], cwd=src, env=env, capture_output=True, check=False)
    assert killed.returncode == -9, killed.stderr.decode()
    report = json.loads(bml(src, "push", "--json").stdout)
    assert not stale.exists() and not list(tmp.glob("push-*.part"))
    assert report["leftovers"] >= 1
    assert report["packs_present"] == 1  # rebuilt identically, found on S3: not sent again
    again = json.loads(bml(src, "push", "--json").stdout)
    assert again["packs"] == again["new_chunks"] == again["new_files"] == 0
    # every chunk the remote lists was needed by the re-push; those of the pack already there were not sent
    assert 0 < report["new_chunks"] < _chunks_in_indexes(s3, src)


def _chunks_in_indexes(fs, src: Path) -> int:
    """Chunk records the remote's indexes list (each index names one pack)."""
    from branchml.remote.objects import decode_index
    from branchml.store.pack import KIND_CHUNK

    url = json.loads(bml(src, "remote", "list", "--json").stdout)[0]["url"]
    prefix = url.removeprefix("s3://")
    count = 0
    for name in fs.ls(f"{prefix}/indexes"):
        count += sum(r.kind == KIND_CHUNK for r in decode_index(fs.cat_file(name), Path(name).stem))
    return count


# -- a hung endpoint ------------------------------------------------------------------------------------
@pytest.fixture
def hung_endpoint():
    """A loopback TCP server that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_hung_s3_endpoint_ends_in_an_error_naming_the_remote(tmp_path, hung_endpoint):
    src = project(tmp_path, "s3://bucket/proj", options=("connect_timeout=1", "read_timeout=1"))
    write_random(src / "data" / "a.bin", 100_000, 7)
    commit_all(src, "data")
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": hung_endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.run([sys.executable, "-m", "branchml", "push"], cwd=src, env=env, capture_output=True,
                          timeout=300, check=False)  # a guard against a hang, not a measurement
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.REMOTE_FAILED, err
    assert "blob remote 'origin' (s3://bucket/proj)" in err and "no answer within 1 s to connect / 1 s to reply" in err
    assert "read_timeout=" in err and "Traceback" not in err
    assert "blob remote 'origin' (s3://bucket/proj): still waiting to" in err  # progress while it waited

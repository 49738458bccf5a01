"""Blob remote on S3-compatible storage: a real S3 HTTP server (moto) on loopback, through s3fs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid

import pytest

from branchml.remote.api import tree_pointers
from branchml.repo import Repo
from conftest import bml, git, run
from remote_support import commit_all, digests, no_wrong_bytes, project, write_random

BUCKET = "branchml-test"


@pytest.fixture(scope="module")
def s3():
    """An S3 server on a free loopback port; dummy credentials and its endpoint in the environment."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.makedirs(BUCKET, exist_ok=True)  # moto keeps its buckets per process: another module may have made it
    yield fs
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def s3_url() -> str:
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"


def test_push_clone_switch_round_trip_through_s3(tmp_path, s3):
    url = s3_url()
    src = project(tmp_path, url)
    write_random(src / "data" / "train.bin", 1_500_000, 11)
    commit_all(src, "data")
    git(src, "switch", "-qc", "stable/acme")
    write_random(src / "models" / "model.bin", 400_000, 12)
    commit_all(src, "model")
    on_acme = digests(src)
    git(src, "push", "-q", "origin", "main", "stable/acme")
    prefix = url.removeprefix("s3://")
    assert s3.ls(f"{prefix}/packs") and s3.ls(f"{prefix}/indexes")
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "copy"))
    copy = tmp_path / "copy"
    git(copy, "switch", "-q", "stable/acme")
    assert digests(copy) == on_acme
    assert json.loads(bml(copy, "verify-remote", "--json", "stable/acme").stdout)["missing"] == []
    gc = json.loads(bml(copy, "remote", "gc", "--grace", "0", "--json").stdout)  # lock, ages, listing on S3
    assert gc["packs"] > 0 and gc["deleted_packs"] == gc["rewritten_packs"] == 0
    assert not s3.exists(f"{prefix}/locks/gc.lock")


def test_four_concurrent_pushers_for_three_rounds_lose_nothing(tmp_path, s3):
    first = project(tmp_path, s3_url())
    git(first, "push", "-q", "origin", "main")
    server = tmp_path / "proj-server.git"
    pushers = [first] + [tmp_path / f"p{i}" for i in range(1, 4)]
    at_once([[sys.executable, "-m", "branchml", "clone", str(server), str(p)] for p in pushers[1:]], tmp_path)
    for i, repo in enumerate(pushers):
        git(repo, "switch", "-qc", f"p{i}")
    for rnd in range(3):
        for i, repo in enumerate(pushers):
            write_random(repo / "data" / f"own-{rnd}.bin", 150_000, 100 * i + rnd)
            write_random(repo / "data" / f"shared-{rnd}.bin", 300_000, rnd)  # same bytes for everyone
        # each pusher commits and pushes at the same time: the pre-push hooks upload concurrently
        at_once([["sh", "-c", f"git add -A && git commit --no-verify -qm 'round {rnd}' && git push -q origin p{i}"]
                 for i in range(4)], *pushers)
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(server), str(copy))
    branches = [f"p{i}" for i in range(4)]
    bml(copy, "fetch", *branches)  # everything, in batches, into a fresh store (p0 = origin/p0 here)
    assert bml(copy, "fsck", "--read-data", "--all").returncode == 0
    clone = Repo.find(copy)
    for branch, repo in zip(branches, pushers):
        pointers = tree_pointers(clone, [f"origin/{branch}"], [])
        assert len(pointers) == 6
        for p in pointers:  # verified bytes from the fetched store, against each pusher's own file
            assert clone.store.read_file(p.pointer) == (repo / p.path).read_bytes()


def at_once(commands: list[list[str]], *cwds) -> None:
    """Run commands concurrently (each in its own cwd, or all in the one given); all must succeed."""
    dirs = list(cwds) if len(cwds) == len(commands) else [cwds[0]] * len(commands)
    procs = [subprocess.Popen(c, cwd=d, stderr=subprocess.PIPE) for c, d in zip(commands, dirs)]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err.decode()


def test_tampered_s3_object_is_caught_and_unreachable_endpoint_is_named(tmp_path, s3, monkeypatch):
    url = s3_url()
    src = project(tmp_path, url)
    write_random(src / "data" / "a.bin", 400_000, 13)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    pack = s3.ls(f"{url.removeprefix('s3://')}/packs")[0]
    good = s3.cat_file(pack)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x40
    s3.pipe_file(pack, bytes(bad))
    proc = bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "c1"), check=False)
    assert proc.returncode != 0 and "does not match" in proc.stderr.decode()
    assert no_wrong_bytes(tmp_path / "c1" / "data" / "a.bin")

    s3.pipe_file(pack, good)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    proc = bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "c2"), check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "blob remote 'origin'" in err and url in err, err


@pytest.fixture
def fake_endpoint():
    """An HTTP server on loopback that counts the requests it gets and refuses them all."""
    import http.server
    import threading

    hits: list[str] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            hits.append(f"{self.command} {self.path}")
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_committed_endpoint_never_rides_on_a_local_remote_and_the_environment_wins(tmp_path, s3, fake_endpoint, monkeypatch):
    """Issue 12's bypass: a local `origin` plus a committed endpoint_url for that name from upstream.
    No request may reach the committed endpoint before trust, nor while the user's own
    AWS_ENDPOINT_URL_S3 is set; after trust and without it, the committed value is used."""
    endpoint, hits = fake_endpoint
    url = s3_url()
    src = project(tmp_path, url)
    bml(src, "remote", "remove", "origin")
    bml(src, "remote", "add", "origin", url, "--local")
    (src / "branchml.toml").write_text(
        f'[remotes.origin]\nurl = "{url}"\nendpoint_url = "{endpoint}"\n')  # as pulled from upstream
    commit_all(src, "upstream: our endpoint")
    write_random(src / "data" / "a.bin", 200_000, 21)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "copy"))
    bml(tmp_path / "copy", "fetch", "main")
    assert hits == []  # everything went to the user's own S3 (the environment's endpoint)

    shown = bml(src, "remote", "trust", "origin", input=b"y\n")
    assert endpoint in shown.stdout.decode() + shown.stderr.decode()
    write_random(src / "data" / "b.bin", 100_000, 22)
    commit_all(src, "more data")
    git(src, "push", "-q", "origin", "main")  # trusted, but AWS_ENDPOINT_URL_S3 still wins
    assert hits == []

    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    write_random(src / "data" / "c.bin", 100_000, 23)
    commit_all(src, "even more")
    proc = run(["git", "push", "origin", "main"], src, check=False)
    assert proc.returncode != 0 and hits  # now the trusted committed endpoint is used (and refuses)

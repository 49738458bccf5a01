"""`branchml serve`: real uvicorn servers on loopback, httpx clients, tags trained by `branchml run`."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from branchml.errors import ExitCode
from branchml.repo import Repo
from branchml.serve.app import ServeOptions, create_app
from branchml.serve.split import Router
from conftest import bml, git
from serve_helpers import Server, committers, logged, split, state, trained_repo

ROWS = [[1.0, 2.0, 3], [-1.5, -2.0, 0], [0.2, -0.1, 7]]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("serve")
    bml(base, "init", "repo")
    return trained_repo(base / "repo")


@pytest.fixture(scope="module")
def server(tagged):
    srv = Server(tagged, "m-1", "--env", "prod", "--batch-records", "5", "--batch-seconds", "0.5", "--max-body", "100000")
    yield srv
    srv.stop()


def test_every_mlflow_input_format_gets_the_same_predictions(server):
    expected = server.score(split(ROWS)).json()["predictions"]
    assert len(expected) == 3 and set(expected) <= {0, 1}
    records = [dict(zip("abc", row)) for row in ROWS]
    bodies = [
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {"a": [r[0] for r in ROWS], "b": [r[1] for r in ROWS], "c": [r[2] for r in ROWS]}},
        {"inputs": ROWS},
        {"dataframe_split": {"columns": ["c", "b", "a"], "data": [[r[2], r[1], r[0]] for r in ROWS]}},
    ]
    for body in bodies:
        answer = server.score(body)
        assert answer.status_code == 200, (body, answer.text)
        assert answer.json() == {"predictions": expected}, body
    csv_text = "a,b,c\n" + "".join(f"{a},{b},{c}\n" for a, b, c in ROWS)
    answer = server.client.post("/invocations", content=csv_text, headers={"content-type": "text/csv"})
    assert answer.json() == {"predictions": expected}
    assert server.client.get("/ping").status_code == 200
    assert server.client.get("/health").status_code == 200
    assert server.client.get("/version").status_code == 200


def test_request_id_is_echoed_and_the_query_logged_with_its_tag(server, tagged):
    answer = server.score(split(ROWS[:1]), **{"X-Request-ID": "req-echo-1"})
    assert answer.headers["x-request-id"] == "req-echo-1"
    assert answer.headers["x-branchml-tag"] == "m-1" and answer.headers["x-branchml-variant"] == "primary"
    generated = server.score(split(ROWS[:1])).headers["x-request-id"]
    assert len(generated) == 32
    records = _wait_logged(tagged, "m-1", "prod", {"req-echo-1", generated})
    mine = records["req-echo-1"]
    assert mine["features"] == {"a": 1.0, "b": 2.0, "c": 3} and mine["prediction"] == answer.json()["predictions"][0]
    assert mine["tag"] == "m-1" and mine["variant"] == "primary" and mine["latency_ms"] >= 0
    assert git(tagged, "status", "--porcelain") == ""  # logging never touches the checkout


def _wait_logged(repo: Path, tag: str, env: str, ids: set[str]) -> dict[str, dict]:
    for _ in range(300):
        found = {r["request_id"]: r for r in logged(repo, tag, env)} if git(repo, "branch", "--list", f"monitor/{env}") else {}
        if ids <= set(found):
            return found
        threading.Event().wait(0.2)
    raise AssertionError(f"{ids - set(found)} never reached monitor/{env}")


@pytest.mark.parametrize("body, content_type, status, words", [
    (json.dumps(split([[1.0, 2.0]])), "application/json", 400, ["row 0 has 2 values for 3 columns"]),
    (json.dumps({"dataframe_split": {"columns": ["a", "b", "x"], "data": [[1, 2, 3]]}}), "application/json", 400,
     ["missing ['c']", "unexpected ['x']"]),
    (json.dumps(split([[1.0, "two", 3]])), "application/json", 400, ["row 0, column 'b'", "'two' is not a double"]),
    (json.dumps(split([[1.0, 2.0, 3.5]])), "application/json", 400, ["column 'c'", "3.5 is not a long"]),
    (json.dumps(split([[1.0, True, 3]])), "application/json", 400, ["column 'b'", "True is not a double"]),
    ("{not json", "application/json", 400, ["INVALID_PARAMETER_VALUE", "valid JSON"]),
    (json.dumps([[1, 2, 3]]), "application/json", 400, ["exactly one of the input fields", "received a list"]),
    (json.dumps({"rows": [[1, 2, 3]]}), "application/json", 400, ["exactly one of the input fields", "['rows']"]),
    ("a,b,c\n1,zwei,3\n", "text/csv", 400, ["row 0", "'zwei' is not a double"]),
    ("a,b,c\n1,2,3\n", "application/xml", 415, ["only supports the following content types"]),
    ("a,b,c\n1,2,3\n", "text/csv; charset=latin-1", 415, ["only supports UTF-8"]),
])
def test_malformed_requests_are_refused_with_the_reason(server, body, content_type, status, words):
    answer = server.client.post("/invocations", content=body, headers={"content-type": content_type})
    assert answer.status_code == status, answer.text
    for word in words:
        assert word in answer.text


def test_huge_body_is_refused_before_it_is_read(server):
    rows = [[1.0, 2.0, 3]] * 20_000  # about 300 kB, the server's limit here is 100 kB
    answer = server.score(split(rows))
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert server.score(split(ROWS)).status_code == 200  # and the server still answers


def test_metadata_names_tag_commit_lineage_and_input_schema(server, tagged):
    meta = server.client.get("/metadata").json()
    assert meta["tag"] == "m-1"
    assert meta["commit"] == git(tagged, "rev-parse", "m-1^{commit}").strip()
    assert meta["code_commit"] == git(tagged, "rev-parse", "m-1^{commit}^").strip()
    assert meta["input_schema"] == {"columns": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"},
                                                {"name": "c", "type": "long"}]}
    assert "data_lineage" in meta and meta["env"] == "prod" and meta["logging"] is True


def test_untrusted_skops_type_is_refused_with_its_name(tagged):
    proc = bml(tagged, "serve", "bad-1", "--port", "0", check=False)
    assert proc.returncode == ExitCode.UNTRUSTED_MODEL
    err = proc.stderr.decode()
    assert "posix.system" in err and "trusted_types" in err


def test_tag_without_serve_settings_is_refused(tagged, tmp_path):
    bml(tmp_path, "init", "plain")
    git(tmp_path / "plain", "commit", "-qm", "init", "--allow-empty")
    git(tmp_path / "plain", "tag", "v1")
    proc = bml(tmp_path / "plain", "serve", "v1", "--port", "0", check=False)
    assert proc.returncode == ExitCode.SERVE_FAILED and "[serve]" in proc.stderr.decode()


def test_canary_is_sticky_per_caller_and_shadow_never_answers(tagged):
    srv = Server(tagged, "m-1", "--canary", "m-2=30%", "--shadow", "m-2", "--env", "ab", "--batch-seconds", "0.5")
    try:
        answers = {}
        for caller in range(40):
            tags = {srv.score(split(ROWS[:1]), **{"X-Caller-ID": f"c{caller}"}).headers["x-branchml-tag"] for _ in range(2)}
            assert len(tags) == 1, f"caller c{caller} moved between variants: {tags}"
            answers[f"c{caller}"] = tags.pop()
        assert set(answers.values()) == {"m-1", "m-2"}
        forced = srv.score(split(ROWS[:1]), **{"X-Branchml-Variant": "canary"})
        assert forced.headers["x-branchml-tag"] == "m-2" and forced.headers["x-branchml-variant"] == "canary"
    finally:
        srv.stop()
    m1, m2 = logged(tagged, "m-1", "ab"), logged(tagged, "m-2", "ab")
    answered = [r for r in m1 + m2 if r["variant"] != "shadow"]
    assert len(answered) == 81 and {r["variant"] for r in answered} == {"primary", "canary"}
    assert all((r["tag"] == "m-2") == (r["variant"] == "canary") for r in answered)
    shadows = [r for r in m2 if r["variant"] == "shadow"]
    assert sorted(r["request_id"] for r in shadows) == sorted(r["request_id"] for r in answered)


def test_two_servers_append_to_one_monitor_branch(tagged):
    servers = [Server(tagged, "m-1", "--env", "conc", "--batch-records", "3", "--batch-seconds", "0.2") for _ in range(2)]
    sent: list[str] = []

    def load(srv: Server, n: int) -> None:
        for i in range(n):
            rid = f"{srv.url}-{i}"
            assert srv.score(split(ROWS[:1]), **{"X-Request-ID": rid}).status_code == 200
            sent.append(rid)

    threads = [threading.Thread(target=load, args=(srv, 40)) for srv in servers for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for srv in servers:
        srv.stop()
    counts = Counter(r["request_id"] for r in logged(tagged, "m-1", "conc"))
    assert counts == Counter(sent)  # every record once; 160 sent, 80 per id prefix pair
    commits = int(git(tagged, "rev-list", "--count", "monitor/conc"))
    assert 1 < commits < len(sent)  # batched, not one commit per request
    assert bml(tagged, "verify", "--branch", "monitor/conc", check=False).returncode == 0


def test_sigkill_mid_load_loses_no_acknowledged_record(tagged):
    srv = Server(tagged, "m-1", "--env", "crash", "--batch-records", "7", "--batch-seconds", "30")
    acked: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        client = httpx.Client(base_url=srv.url, timeout=30)
        while not stop.is_set():
            rid = f"w{worker}-{uuid.uuid4().hex[:8]}"
            try:
                answer = client.post("/invocations", json=split(ROWS[:1]), headers={"X-Request-ID": rid})
            except httpx.TransportError:
                return  # killed mid-request: not acknowledged
            if answer.status_code == 200:
                acked.append(rid)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    [t.start() for t in threads]
    while len(acked) < 40:
        threading.Event().wait(0.05)
    [committer] = committers(srv.proc.pid)  # batches are committed by a child process
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(30)
    for _ in range(100):  # it dies with the server (PR_SET_PDEATHSIG), it does not commit on alone
        if state(committer) in ("", "Z"):
            break
        time.sleep(0.05)
    assert state(committer) in ("", "Z")
    stop.set()
    [t.join() for t in threads]
    # (no branch yet when it died before its first batch commit)
    before = Counter(r["request_id"] for r in logged(tagged, "m-1", "crash")) if git(tagged, "branch", "--list", "monitor/crash") else {}
    assert len(before) < len(acked)  # some records were only in the journal when it died
    restarted = Server(tagged, "m-1", "--env", "crash", "--timeout", "0.000001")  # commits the dead server's journal
    late = restarted.score(split(ROWS[:1]))  # and, with that timeout, no prediction is ever in time
    assert late.status_code == 504 and late.json()["error_code"] == "DEADLINE_EXCEEDED"
    restarted.stop()
    after = Counter(r["request_id"] for r in logged(tagged, "m-1", "crash"))
    assert set(acked) <= set(after)
    assert max(after.values()) == 1  # none twice


def test_the_heap_the_loaded_tags_make_is_frozen_before_the_first_request(tagged):
    # the app in this process: the collector's state is not visible over HTTP
    app = create_app(Repo.find(tagged), Router("m-1", (), ()), ServeOptions(log=False))
    before = gc.get_freeze_count()

    async def started() -> int:
        async with app.router.lifespan_context(app):  # what uvicorn runs before it accepts a connection
            return gc.get_freeze_count()

    try:
        assert asyncio.run(started()) > before  # full collections skip the models' objects while serving
    finally:
        gc.unfreeze()

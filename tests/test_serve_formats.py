"""`branchml serve` of ONNX and safetensors tags, and the sticky split keyed by a request field.

The models are real: a scikit-learn classifier converted with skl2onnx, and linear weights saved with
safetensors, committed through the chunk store (models/** tracked) and tagged; one server answers
with the ONNX tag and the safetensors tag as a 50% canary keyed by the request's `c` field.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from branchml.errors import ExitCode
from branchml.serve.split import bucket
from conftest import bml, git
from serve_helpers import (
    SCHEMA_FILE,
    WEIGHTS,
    Server,
    commit_tag,
    linear_tag,
    logged,
    serve_settings,
    wait_logged,
)

onnx = pytest.importorskip("onnx", reason="the serve extra installs onnx")
pytest.importorskip("onnxruntime", reason="the serve extra installs onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx", reason="the test extra installs skl2onnx")
safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the serve extra installs safetensors")
np = pytest.importorskip("numpy")
from sklearn.linear_model import LogisticRegression  # noqa: E402 (after the skips: optional extras)

ROWS = [[1.0, 2.0, 3], [-1.5, -2.0, 0], [0.2, -0.1, 7], [3.0, -4.0, 11]]

def _onnx_model(x: np.ndarray, y: np.ndarray) -> tuple[bytes, LogisticRegression]:
    from skl2onnx import to_onnx

    model = LogisticRegression().fit(x, y)
    proto = to_onnx(model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}}, target_opset=17)
    return proto.SerializeToString(), model


@pytest.fixture(scope="module")
def formats(tmp_path_factory) -> tuple[Path, LogisticRegression]:
    base = tmp_path_factory.mktemp("formats")
    bml(base, "init", "repo")
    repo = base / "repo"
    git(repo, "switch", "-qc", "dev/formats")
    bml(repo, "track", "models/**")
    (repo / "models").mkdir()
    (repo / "models/input_schema.json").write_text(json.dumps(SCHEMA_FILE))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    data, model = _onnx_model(x, (x[:, 0] + x[:, 1] > 0).astype(int))
    (repo / "models/model.onnx").write_bytes(data)
    commit_tag(repo, serve_settings("models/model.onnx"), "onnx-1")
    linear_tag(repo, "st-1")
    return repo, model


@pytest.fixture(scope="module")
def server(formats):
    srv = Server(formats[0], "onnx-1", "--canary", "st-1=50%", "--caller-field", "c", "--env", "prod",
                 "--batch-records", "1", "--batch-seconds", "0.2")
    yield srv
    srv.stop()


def _split(rows: list[list[float]]) -> dict:
    return {"dataframe_split": {"columns": ["a", "b", "c"], "data": rows}}


def test_onnx_and_safetensors_tags_answer_like_their_models(server, formats):
    repo, model = formats
    answer = server.score(_split(ROWS), **{"X-Branchml-Variant": "primary"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-branchml-tag"] == "onnx-1"
    assert answer.json()["predictions"] == model.predict(np.array(ROWS)).tolist()
    answer = server.score(_split(ROWS), **{"X-Branchml-Variant": "st-1"})
    assert answer.status_code == 200, answer.text
    expected = (np.array(ROWS) @ WEIGHTS["w"] + WEIGHTS["b"][0]).tolist()
    assert answer.json()["predictions"] == pytest.approx(expected)
    assert git(repo, "cat-file", "-p", "onnx-1:models/model.onnx").startswith("branchml pointer")  # served from the store
    metadata = server.client.get("/metadata").json()
    assert metadata["model"] == "models/model.onnx" and metadata["input_schema"]["columns"][2] == {"name": "c", "type": "long"}


def test_caller_field_keeps_each_caller_on_one_variant(server, formats):
    callers = list(range(40))
    expected = {c: "st-1" if bucket(str(c)) < 5000 else "onnx-1" for c in callers}
    assert set(expected.values()) == {"onnx-1", "st-1"}  # both sides of the split are exercised
    for round_ in range(2):
        for c in callers:
            answer = server.score(_split([[round_ * 0.5, -1.0, c], [2.0, 2.0, 999]]),
                                  **{"X-Request-ID": f"field-{c}-{round_}"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-branchml-tag"] == expected[c], c  # keyed by the first row's c
    header_wins = server.score(_split([[0.0, 0.0, callers[0]]]), **{"X-Caller-ID": "someone-else"})
    assert header_wins.headers["x-branchml-tag"] == ("st-1" if bucket("someone-else") < 5000 else "onnx-1")
    by_id = {}
    for tag in ("onnx-1", "st-1"):
        ids = {f"field-{c}-{r}-0" for c in callers for r in range(2) if expected[c] == tag}
        by_id.update(wait_logged(formats[0], tag, "prod", ids))
    for c in callers:
        for round_ in range(2):
            record = by_id[f"field-{c}-{round_}-0"]
            assert record["tag"] == expected[c]
            assert record["variant"] == ("canary" if expected[c] == "st-1" else "primary")


def test_onnx_with_external_tensors_is_refused(formats):
    """A graph whose weights live in a file it names would read that path on the server: refused."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import convert_model_to_external_data

    repo, _ = formats
    weights = numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])], [weights])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    convert_model_to_external_data(proto, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save_model(proto, str(repo / "models/model.onnx"))
    commit_tag(repo, serve_settings("models/model.onnx"), "onnx-ext-1")
    proc = subprocess.run([sys.executable, "-m", "branchml", "serve", "onnx-ext-1", "--port", "0"], cwd=repo,
                          capture_output=True, timeout=60)  # refused before the port opens
    assert proc.returncode == ExitCode.UNTRUSTED_MODEL, proc.stderr.decode()
    assert "external files (w)" in proc.stderr.decode() and "models/model.onnx" in proc.stderr.decode()


def test_ctrl_c_stops_the_server_with_exit_0_after_committing_its_logs(formats):
    srv = Server(formats[0], "st-1", "--env", "interrupted", "--batch-seconds", "600")  # only shutdown commits
    answer = srv.score({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, 3]]}},
                       **{"X-Request-ID": "before-ctrl-c"})
    assert answer.status_code == 200, answer.text
    srv.client.close()
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(60) == 0, srv.log_path.read_text()
    assert "Traceback" not in srv.log_path.read_text()
    ids = [r["request_id"] for r in logged(formats[0], "st-1", "interrupted")]
    assert ids == ["before-ctrl-c"]


def _three_input_graph() -> bytes:
    """y = 0.5 a - b + 0.25 c, with a and b doubles and c an int64, each its own [N, 1] input: the
    shape of graphs exported from frameworks that keep one input per feature (Keras, PyTorch dicts)."""
    from onnx import TensorProto, helper, numpy_helper

    weights = [numpy_helper.from_array(np.array([[w]]), f"w{name}") for name, w in (("a", 0.5), ("b", -1.0), ("c", 0.25))]
    nodes = [helper.make_node("Cast", ["c"], ["c_double"], to=TensorProto.DOUBLE),
             helper.make_node("Mul", ["a", "wa"], ["ta"]), helper.make_node("Mul", ["b", "wb"], ["tb"]),
             helper.make_node("Mul", ["c_double", "wc"], ["tc"]),
             helper.make_node("Sum", ["ta", "tb", "tc"], ["y2"]), helper.make_node("Flatten", ["y2"], ["y1"], axis=0),
             helper.make_node("Squeeze", ["y1", "first"], ["y"])]
    first = numpy_helper.from_array(np.array([0], dtype=np.int64), "first")
    inputs = [helper.make_tensor_value_info("a", TensorProto.DOUBLE, [None, 1]),
              helper.make_tensor_value_info("b", TensorProto.DOUBLE, [None, 1]),
              helper.make_tensor_value_info("c", TensorProto.INT64, [None, 1])]
    graph = helper.make_graph(nodes, "three_inputs", inputs, [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None])],
                              [*weights, first])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def test_onnx_graph_with_one_input_per_column_answers_every_request_format(formats):
    repo, _ = formats
    (repo / "models/model.onnx").write_bytes(_three_input_graph())
    commit_tag(repo, serve_settings("models/model.onnx"), "onnx-multi-1")
    srv = Server(repo, "onnx-multi-1", "--env", "multi", "--batch-seconds", "0.2")
    try:
        expected = pytest.approx([0.5 * a - b + 0.25 * c for a, b, c in ROWS])
        records = [dict(zip("cba", reversed(row))) for row in ROWS]  # keys in another order than the graph's inputs
        for body in (_split(ROWS), {"dataframe_records": records}, {"inputs": {k: [r[k] for r in records] for k in "abc"}}):
            answer = srv.score(body, **{"X-Request-ID": f"multi-{next(iter(body))}"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == expected
        csv = "a,b,c\n" + "".join(f"{a},{b},{c}\n" for a, b, c in ROWS)
        answer = srv.client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
        assert answer.status_code == 200 and answer.json()["predictions"] == expected, answer.text
        wrong = srv.score({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, "x"]]}})
        assert wrong.status_code == 400 and "c" in wrong.json()["message"], wrong.text
        found = wait_logged(repo, "onnx-multi-1", "multi", {"multi-dataframe_split-1"})
        assert found["multi-dataframe_split-1"]["features"] == {"a": -1.5, "b": -2.0, "c": 0}
        assert found["multi-dataframe_split-1"]["prediction"] == pytest.approx(0.5 * -1.5 + 2.0)
    finally:
        srv.stop()

"""Model files as the server holds them: skops, ONNX or safetensors, by the file's suffix. Never pickle.

- `.skops` (scikit-learn): skops lists the types the file holds that are not on its safe list; any
  not named in `[serve] trusted_types` refuses the tag (exit 13), naming them.
- `.onnx`: an `onnxruntime.InferenceSession` built from the bytes. A graph of operators, no code;
  tensors stored outside the file ("external data", a path the file names) are refused, since the
  path would be resolved on the server's disk. Without `[serve] predict`, `onnx_predict` feeds the
  rows to the graph (one input: the rows as a matrix; several: one column each, by name) and
  answers its first output.
- `.safetensors`: a dict of named numpy arrays (weights, no code); the tag's own `predict` uses them.
"""

from __future__ import annotations

from typing import Any

from branchml.errors import ServeError, UntrustedModel
from branchml.serve.frame import Frame

SUFFIXES = (".skops", ".onnx", ".safetensors")
NEEDS_PREDICT = (".skops", ".safetensors")  # ONNX graphs answer on their own; the others need the tag's code
_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(string)": "object"}


def load_model(data: bytes, path: str, trusted_types: list[str], tag: str) -> Any:
    """The loaded model of `path` (its suffix decides how); refuses anything that would need pickle."""
    if path.endswith(".skops"):
        return load_skops(data, path, trusted_types, tag)
    if path.endswith(".onnx"):
        return load_onnx(data, path, tag)
    if path.endswith(".safetensors"):
        return load_safetensors(data, path, tag)
    raise ServeError(f"{tag}: {path} is not a .skops, .onnx or .safetensors file; branchml never unpickles models",
                     hint="save scikit-learn models with skops.io.dump, others as ONNX or safetensors")


def load_skops(data: bytes, path: str, trusted_types: list[str], tag: str) -> Any:
    try:
        import skops.io as sio  # type: ignore[import-untyped]  # optional extra [serve]: only serving loads models
    except ModuleNotFoundError as exc:
        raise ServeError("serving a .skops model needs skops", hint="pip install 'branchml[serve]'") from exc
    refused = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted_types))
    if refused:
        raise UntrustedModel(f"{tag}: {path} holds types that are not trusted: {', '.join(refused)}",
                             hint="if you trust them, list them in [serve] trusted_types of branchml.toml, commit, retrain")
    return sio.loads(data, trusted=list(trusted_types) or None)


def load_onnx(data: bytes, path: str, tag: str) -> Any:
    try:
        import onnx  # optional extra [serve]: parsed only to refuse external data before onnxruntime sees it
        import onnxruntime  # type: ignore[import-untyped]  # optional extra [serve]
        from onnx.external_data_helper import uses_external_data
    except ModuleNotFoundError as exc:
        raise ServeError("serving an .onnx model needs onnx and onnxruntime", hint="pip install 'branchml[serve]'") from exc
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # noqa: BLE001 (onnx raises protobuf's DecodeError and others)
        raise ServeError(f"{tag}: {path} is not an ONNX model ({exc})", hint="export it again with onnx.save") from exc
    outside = [t.name for t in _initializers(proto) if uses_external_data(t)]
    if outside:
        raise UntrustedModel(f"{tag}: {path} keeps tensors in external files ({', '.join(outside[:5])}), "
                             "which would be read from the server's disk",
                             hint="save the model as one file: onnx.save(model, path, save_as_external_data=False)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one request is a few rows: threads cost more than they give
    try:
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 (onnxruntime's errors have no common base class)
        raise ServeError(f"{tag}: onnxruntime cannot load {path}: {exc}", hint="check the model's opset") from exc


def _initializers(proto: Any) -> list[Any]:
    """Every stored tensor of the graph and of its sub-graphs (If/Loop bodies)."""
    found: list[Any] = []
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        found.extend(graph.initializer)
        graphs.extend(a.g for node in graph.node for a in node.attribute if a.HasField("g"))
        graphs.extend(g for node in graph.node for a in node.attribute for g in a.graphs)
    return found


def load_safetensors(data: bytes, path: str, tag: str) -> dict[str, Any]:
    try:
        from safetensors.numpy import load  # optional extra [serve]
    except ModuleNotFoundError as exc:
        raise ServeError("serving a .safetensors model needs safetensors and numpy",
                         hint="pip install 'branchml[serve]'") from exc
    try:
        return dict(load(data))
    except Exception as exc:  # noqa: BLE001 (safetensors raises its own SafetensorError and others)
        raise ServeError(f"{tag}: {path} is not a safetensors file ({exc})", hint="save it with safetensors.numpy.save_file") from exc


def onnx_predict(session: Any, frame: Frame) -> Any:
    """The default entry point of an ONNX tag: the rows in, the graph's first output back."""
    import numpy  # heavy optional dependency, present wherever onnxruntime is

    inputs = session.get_inputs()
    if len(inputs) == 1:
        feed = {inputs[0].name: numpy.asarray(frame.rows, dtype=_ONNX_DTYPES.get(inputs[0].type, "float32"))}
    else:
        missing = [i.name for i in inputs if i.name not in frame.columns]
        if missing:
            raise ValueError(f"the ONNX graph wants inputs {missing} that the request has no column for")
        feed = {i.name: numpy.asarray([[row[frame.columns.index(i.name)]] for row in frame.rows],
                                      dtype=_ONNX_DTYPES.get(i.type, "float32")) for i in inputs}
    return session.run([session.get_outputs()[0].name], feed)[0]

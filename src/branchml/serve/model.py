"""A tag made ready to answer: its `[serve]` settings, model, input schema and inference entry point.

Everything is read from the tag's commit (Git objects and the chunk store), never from a checkout:

    [serve]                                   # branchml.toml as committed at the tag
    predict = "predict.py:predict"            # def predict(model, frame) -> one prediction per row
    model = "models/model.skops"              # .skops, .onnx or .safetensors (loaders.py); never pickle
    input_schema = "models/input_schema.json" # {"format": 1, "columns": [{"name", "type"}]}
    trusted_types = []                        # skops types to allow beyond skops' own safe list

The entry point runs in the server's process: it is the tag's own code, trusted like the training
script the same commit holds. The model file is not code: skops refuses any type that is neither
in skops' safe list nor in `trusted_types`, and we name the types it refused; ONNX graphs and
safetensors weights hold no code at all. An ONNX tag may leave `predict` out (the graph answers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from branchml import config
from branchml.errors import ServeError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.serve.frame import Column, Frame, parse_schema
from branchml.serve.loaders import NEEDS_PREDICT, load_model, onnx_predict
from branchml.serve.tree import TagFiles, TreeImporter
from branchml.settings import ServeSettings

Predict = Callable[[Any, Frame], Any]


def servable(cfg: dict[str, Any], tag: str) -> ServeSettings:
    """The tag's [serve] settings (values checked as read), if they name what serving needs."""
    settings = ServeSettings.from_config(cfg)
    if not settings.model or (settings.model.endswith(NEEDS_PREDICT) and not settings.predict):
        raise ServeError(f"{tag}: branchml.toml at that tag has no usable [serve] predict/model settings",
                         hint='commit [serve] predict = "predict.py:predict" and model = "models/model.skops" '
                              '(an .onnx model needs no predict), then train and tag again')
    return settings


@dataclass
class TaggedModel:
    tag: str
    commit: str
    settings: ServeSettings
    model: Any
    entry: Predict
    schema: list[Column] | None

    def predict(self, frame: Frame) -> list[Any]:
        """One JSON-able prediction per row."""
        raw = self.entry(self.model, frame)
        values = raw.tolist() if hasattr(raw, "tolist") else list(raw)
        if len(values) != len(frame.rows):
            raise ServeError(f"{self.tag}: predict returned {len(values)} value(s) for {len(frame.rows)} row(s)")
        return values

    def metadata(self) -> dict[str, Any]:
        return {"tag": self.tag, "commit": self.commit, "predict": self.settings.predict, "model": self.settings.model,
                "input_schema": None if self.schema is None else {"columns": [{"name": c.name, "type": c.type} for c in self.schema]}}


def load_tag(repo: Repo, tag: str) -> TaggedModel:
    """Read the tag's settings, model, schema and entry point (no checkout)."""
    commit = plumbing.rev_parse(repo.cwd, f"refs/tags/{tag}^{{commit}}")
    if commit is None:
        raise ServeError(f"no tag {tag!r} in this repository", hint="list tags with `branchml release list`")
    files = TagFiles(repo, tag, commit)
    try:
        toml = files.get(config.FILE_NAME)
        cfg = config.load(None, repo.store_dir, committed_text=(toml or b"").decode(),
                          committed_name=f"{tag}:{config.FILE_NAME}")
        settings = servable(cfg, tag)
        model = load_model(files.require(settings.model, "[serve] model"), settings.model, settings.trusted_types, tag)
        schema = _schema(files, settings)
        entry = _entry_point(files, settings.predict) if settings.predict else onnx_predict
    finally:
        files.close()
    return TaggedModel(tag, commit, settings, model, entry, schema)


def _schema(files: TagFiles, settings: ServeSettings) -> list[Column] | None:
    if not settings.input_schema:
        return None
    data = files.require(settings.input_schema, "[serve] input_schema")
    try:
        return parse_schema(data, f"{files.tag}:{settings.input_schema}")
    except (ValueError, KeyError, TypeError) as exc:
        raise ServeError(f"{files.tag}:{settings.input_schema}: not an input schema ({exc})",
                         hint='{"format": 1, "columns": [{"name": "x", "type": "double"}]}') from exc


def _entry_point(files: TagFiles, spec: str) -> Predict:
    path, _, function = spec.rpartition(":")
    folder, _, module_file = path.rpartition("/")
    module = TreeImporter(files, folder).load(module_file)
    entry: Predict | None = getattr(module, function, None)
    if not callable(entry):
        raise ServeError(f"{files.tag}:{path} defines no function {function!r}", hint="fix [serve] predict")
    return entry

"""A tag made ready to answer: its `[serve]` settings, model, input schema and inference entry point.

Everything is read from the tag's commit (Git objects and the chunk store), never from a checkout:

    [serve]                                   # branchml.toml as committed at the tag
    predict = "predict.py:predict"            # def predict(model, frame) -> one prediction per row
    model = "models/model.skops"              # loaded with skops, never with pickle
    input_schema = "models/input_schema.json" # {"format": 1, "columns": [{"name", "type"}]}
    trusted_types = []                        # skops types to allow beyond skops' own safe list

The entry point runs in the server's process: it is the tag's own code, trusted like the training
script the same commit holds. The model file is not code: skops refuses any type that is neither
in skops' safe list nor in `trusted_types`, and we name the types it refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from branchml import config
from branchml.errors import ServeError, UntrustedModel
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.serve.frame import Column, Frame, parse_schema
from branchml.serve.tree import TagFiles, TreeImporter

Predict = Callable[[Any, Frame], Any]


@dataclass(frozen=True)
class ServeSettings:
    predict: str
    model: str
    input_schema: str
    trusted_types: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: dict[str, Any], tag: str) -> ServeSettings:
        serve = cfg.get("serve", {})
        if not serve.get("predict") or ":" not in serve["predict"] or not serve.get("model"):
            raise ServeError(f"{tag}: branchml.toml at that tag has no usable [serve] predict/model settings",
                             hint='commit [serve] predict = "predict.py:predict" and model = "models/model.skops", '
                                  "then train and tag again")
        return cls(serve["predict"], serve["model"], serve.get("input_schema", ""), list(serve.get("trusted_types", [])))


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
        cfg = config.load(None, repo.store_dir, committed_text=(toml or b"").decode())
        settings = ServeSettings.from_config(cfg, tag)
        model = load_skops(files.require(settings.model, "[serve] model"), settings, tag)
        schema = _schema(files, settings)
        entry = _entry_point(files, settings.predict)
    finally:
        files.close()
    return TaggedModel(tag, commit, settings, model, entry, schema)


def load_skops(data: bytes, settings: ServeSettings, tag: str) -> Any:
    if not settings.model.endswith(".skops"):
        raise ServeError(f"{tag}: {settings.model} is not a .skops file; branchml never unpickles models",
                         hint="save scikit-learn models with skops.io.dump (https://skops.readthedocs.io)")
    try:
        import skops.io as sio  # type: ignore[import-untyped]  # optional extra [serve]: only serving loads models
    except ModuleNotFoundError as exc:
        raise ServeError("serving a .skops model needs skops", hint="pip install 'branchml[serve]'") from exc
    refused = sorted(set(sio.get_untrusted_types(data=data)) - set(settings.trusted_types))
    if refused:
        raise UntrustedModel(f"{tag}: {settings.model} holds types that are not trusted: {', '.join(refused)}",
                             hint="if you trust them, list them in [serve] trusted_types of branchml.toml, commit, retrain")
    return sio.loads(data, trusted=list(settings.trusted_types) or None)


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

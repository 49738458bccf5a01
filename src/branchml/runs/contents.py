"""What a release contains: the paths `[release] include` names, read from the tagged commit.

A release goes to a customer, so it holds only what serving needs, never the whole tagged tree
(training data and training code stay home). The default is the model folder, the model card,
the metrics file of `[run] metrics`, the inference code `[serve] predict` declares
(`"path/to/file.py:function"` or a dotted module `"pkg.module:function"`), and the `[serve]`
model and input schema files when set (docs/serve.md). Patterns are
gitignore-style globs over paths from the repository root ("/x" anchors at the root).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pathspec

from branchml import config

DEFAULT_INCLUDE = ["/models/**", "/MODEL_CARD.md"]


@dataclass(frozen=True)
class ReleaseContents:
    patterns: list[str]
    _spec: pathspec.GitIgnoreSpec = field(init=False, repr=False, compare=False)  # compiled from patterns

    def __post_init__(self) -> None:
        object.__setattr__(self, "_spec", pathspec.GitIgnoreSpec.from_lines(self.patterns))

    def includes(self, path: str) -> bool:
        return bool(self._spec.match_file(path))


def contents_of(committed_text: str) -> ReleaseContents:
    """The include patterns of the tagged commit's branchml.toml (its own, as it was when trained).

    Loose on purpose, unlike the sections `branchml.settings` checks: this reads old tags' files,
    and a check added later must never make a tag that was released before unreleasable. Anything
    but a non-empty list of globs means the default contents (docs/formats.md, `branchml.toml`)."""
    cfg = config.merge_dicts(config.DEFAULTS, config.parse_toml(committed_text, config.FILE_NAME) if committed_text else {})
    release: dict[str, Any] = cfg.get("release", {})
    include = release.get("include")
    if isinstance(include, list) and include:
        return ReleaseContents([str(p) for p in include])
    return ReleaseContents(default_patterns(cfg))


def default_patterns(cfg: dict[str, Any]) -> list[str]:
    patterns = list(DEFAULT_INCLUDE)
    metrics = cfg.get("run", {}).get("metrics")
    if isinstance(metrics, str) and metrics:
        patterns.append("/" + metrics.lstrip("/"))
    serve = cfg.get("serve", {})
    predict = serving_file(serve.get("predict"))
    if predict:
        patterns.append("/" + predict)
    for key in ("model", "input_schema"):  # what `branchml serve` loads besides the code
        if isinstance(serve.get(key), str) and serve[key].strip():
            patterns.append("/" + serve[key].strip().lstrip("/"))
    return patterns


def serving_file(predict: object) -> str | None:
    """The file of `[serve] predict`: "src/predict.py:predict" -> src/predict.py, "pkg.mod:f" -> pkg/mod.py."""
    if not isinstance(predict, str) or not predict.strip():
        return None
    target = predict.strip()
    if ":" in target and not target.endswith(".py"):
        target = target.rsplit(":", 1)[0]
    if target.endswith(".py") or "/" in target:
        return target.lstrip("/")
    return target.replace(".", "/") + ".py"

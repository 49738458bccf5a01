"""branchml: a whole ML project in one Git repository.

The public Python API is `branchml.api` (described in docs/api.md), re-exported here lazily:
`branchml.open_repo(...)` imports it on first use, so `import branchml` itself loads nothing more
(Git starts `branchml filter-process`, which lives in this package, on every command). The names
are `branchml.api.__all__`, derived from its `_WHERE` table: a new one is added in api.py only.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from branchml.version import __version__ as __version__


def __getattr__(name: str) -> Any:
    # `from branchml import config` asks here before it imports the submodule: a submodule's name
    # must not load the API (the filter's start-up), so only other names reach it.
    if not name.isidentifier() or (name.startswith("__") and name != "__all__") \
            or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module 'branchml' has no attribute {name!r}")
    api = importlib.import_module("branchml.api")
    if name == "__all__":
        return list(api.__all__)
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'branchml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__getattr__("__all__")})

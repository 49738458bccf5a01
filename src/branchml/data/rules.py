"""Cleaning rules: the built-in ones, and user rules from a script committed on the branch.

A rule looks at one file (path, bytes) or one parsed row and answers why to drop it, or None.
User rules are ordinary Python the user committed to the clean branch; `data clean --rules` runs
that committed version (never an uncommitted edit), in this process, with the user's rights.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from posixpath import splitext
from typing import Any

from branchml.errors import BranchmlError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
TEXT_EXTENSIONS = {".txt", ".text", ".md"}

FileRule = Callable[[str, bytes], "str | None"]
RowRule = Callable[[str, Any], "str | None"]


def zero_byte(path: str, data: bytes) -> str | None:
    return "zero-byte file" if not data else None


def broken_image(path: str, data: bytes) -> str | None:
    if splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
        return None
    Image = _pillow()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # structure and checksums
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # verify() misses truncated pixel data; decoding catches it
    except Exception as exc:  # Pillow raises many types for bad input; any of them means broken
        return f"broken image ({type(exc).__name__}: {exc})"
    return None


def empty_text(path: str, data: bytes) -> str | None:
    if splitext(path)[1].lower() not in TEXT_EXTENSIONS:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return f"text file is not UTF-8 ({exc.reason} at byte {exc.start})"
    return "text file is empty or whitespace only" if not text.strip() else None


def invalid_json(path: str, data: bytes) -> str | None:
    if splitext(path)[1].lower() != ".json":
        return None
    try:
        json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"unparsable JSON ({exc})"
    return None


BUILTIN_FILE_RULES: dict[str, FileRule] = {
    "zero-byte": zero_byte,
    "broken-image": broken_image,
    "empty-text": empty_text,
    "invalid-json": invalid_json,
}


@dataclass
class UserRules:
    script: str  # path on the branch
    blob: str  # the committed version that ran
    check_file: FileRule | None
    check_row: RowRule | None

    def file_problem(self, path: str, data: bytes) -> str | None:
        return self._call(self.check_file, path, data)

    def row_problem(self, path: str, row: Any) -> str | None:
        return self._call(self.check_row, path, row)

    def _call(self, fn: Callable[[str, Any], object] | None, path: str, arg: Any) -> str | None:
        if fn is None:
            return None
        try:
            reason = fn(path, arg)
        except Exception as exc:
            raise BranchmlError(
                f"{self.script}: {fn.__name__} failed on {path}: {type(exc).__name__}: {exc}",
                hint=f"fix {self.script}, commit it, and run `branchml data clean` again (nothing was changed)",
            ) from exc
        return str(reason) if reason else None


def load_user_rules(script: str, blob: str, source: bytes) -> UserRules:
    """Run the committed script and pick up its `check_file(path, data)` / `check_row(path, row)`."""
    namespace: dict[str, Any] = {"__name__": "branchml_user_rules", "__file__": script}
    try:
        exec(compile(source, script, "exec"), namespace)
    except Exception as exc:
        raise BranchmlError(f"{script}: the rules script failed to load: {type(exc).__name__}: {exc}") from exc
    rules = UserRules(script, blob, namespace.get("check_file"), namespace.get("check_row"))
    if rules.check_file is None and rules.check_row is None:
        raise BranchmlError(
            f"{script} defines neither check_file(path, data) nor check_row(path, row)",
            hint="each returns the reason to drop (a string), or None to keep; see docs/data-flow.md",
        )
    return rules


def _pillow() -> Any:  # the PIL.Image module
    try:
        from PIL import Image  # optional extra `data`: images only
    except ImportError as exc:
        raise BranchmlError("checking images needs Pillow", hint="pip install 'branchml[data]'") from exc
    return Image

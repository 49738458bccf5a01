"""Value checks of branchml.toml settings, and the one-line errors they give.

A check returns what is accepted when it refuses a value, else None; `refuse` turns that into the
error every section gives: one line naming the file, the section and key, what is accepted and
what was found, with the settings exit code (14).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from branchml.errors import SettingError

Check = Callable[[Any], str | None]


def refuse(where: str, section: str, key: str, accepted: str, value: Any) -> NoReturn:
    raise SettingError(f"{where}: setting [{section}] {key} must be {accepted}, not {value!r}",
                       hint=f"fix [{section}] {key} in {where}")


def refuse_unknown(where: str, section: str, key: str, known: list[str]) -> NoReturn:
    raise SettingError(f"{where}: [{section}] has no setting {key!r}",
                       hint=f"[{section}] knows {', '.join(known)}; fix or remove {key} in {where}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # true is not a size


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def size(value: Any) -> str | None:
    return None if is_int(value) and value >= 0 else "a size in bytes, 0 or more"


def positive(value: Any) -> str | None:
    return None if is_int(value) and value > 0 else "a size in bytes, more than 0"


def count_above(least: int) -> Check:
    """An integer of at least `least` (a sample size, a number of bins)."""
    def check(value: Any) -> str | None:
        return None if is_int(value) and value >= least else f"an integer, {least} or more"
    return check


def integer(value: Any) -> str | None:
    return None if is_int(value) else "an integer"


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def non_negative(value: Any) -> str | None:
    return None if is_number(value) and value >= 0 else "a number, 0 or more"


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def names(value: Any) -> str | None:
    good = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    return None if good else "a list of names (strings)"

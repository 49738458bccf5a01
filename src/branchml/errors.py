"""One exception type for everything a user can fix, and every exit code branchml uses.

The CLI, the hooks and the filter turn a BranchmlError into one line (and its hint); anything
else is a crash (see `branchml.crash`). Every exit code lives in ExitCode, and the README's table
is checked against it by tests/test_errors.py: add a code here and there together.
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a check found problems (fsck, verify, ...) or the command refused; the line says which
    NOT_A_REPOSITORY = 2
    GIT_FAILED = 3
    MALFORMED_POINTER = 4
    MISSING_OBJECT = 5
    CORRUPT_OBJECT = 6
    STORE_FORMAT = 7
    FILTER_PROTOCOL = 8
    GIT_TOO_OLD = 9
    REMOTE_CONFIG = 10
    REMOTE_FAILED = 11
    SERVE_FAILED = 12  # a tag cannot be served (no [serve] settings, a missing file)
    UNTRUSTED_MODEL = 13  # a model file holds types nobody declared trusted
    SETTING_WRONG = 14  # a setting in branchml.toml or local.toml has the wrong type
    DISK_FULL = 15  # the disk is full: the message names the file that could not be written
    NO_STORE = 16  # no branchml store in this repository (branchml was never set up there)
    RUN_FAILED = 20
    CRASH = 70  # an unexpected error (a bug): the message names the crash log (sysexits' EX_SOFTWARE)
    MERGE_DRIVER_ERROR = 129  # Git reads a merge driver's exit above 128 as "failed", not "conflict"
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class BranchmlError(Exception):
    """A problem the user can act on: what is wrong, where, and what to run next."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class NotARepository(BranchmlError):
    exit_code = ExitCode.NOT_A_REPOSITORY


class GitCommandError(BranchmlError):
    exit_code = ExitCode.GIT_FAILED


class RefChanged(GitCommandError):
    """A compare-and-swap ref update lost: the ref was not at the value the caller expected."""


class MalformedPointer(BranchmlError):
    exit_code = ExitCode.MALFORMED_POINTER


class MissingObject(BranchmlError):
    """A file or chunk the store does not have (and could not fetch)."""

    exit_code = ExitCode.MISSING_OBJECT


class CorruptObject(BranchmlError):
    """Stored bytes that do not match their id."""

    exit_code = ExitCode.CORRUPT_OBJECT


class StoreFormatError(BranchmlError):
    exit_code = ExitCode.STORE_FORMAT


class GitTooOld(BranchmlError):
    """The installed Git is older than the oldest version branchml supports."""

    exit_code = ExitCode.GIT_TOO_OLD


class CheckFailed(BranchmlError):
    """A check ran and found problems (already printed): fsck, verify, verify-remote, data leaks,
    a rerun that does not reproduce, a moved example."""

    exit_code = ExitCode.FAILED


class ServeError(BranchmlError):
    """A tag that cannot be served: no [serve] settings, a missing file, a broken entry point."""

    exit_code = ExitCode.SERVE_FAILED


class UntrustedModel(ServeError):
    """A committed model file holds types nobody declared trusted (skops refuses to load them)."""

    exit_code = ExitCode.UNTRUSTED_MODEL


class SettingError(BranchmlError):
    """A setting in branchml.toml or local.toml has the wrong type: names the file and the setting."""

    exit_code = ExitCode.SETTING_WRONG


class NoSpace(BranchmlError):
    """The disk is full (or over quota): names the file that could not be written."""

    exit_code = ExitCode.DISK_FULL

    def __init__(self, path: object, hint: str = "free some space, then run the command again; "
                                                 "`branchml gc` removes stored content nothing needs") -> None:
        super().__init__(f"{path}: no space left on the device (nothing was lost: what was written before is intact)",
                         hint=hint)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, or SQLite's SQLITE_FULL ("database or disk is full")."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return type(exc).__name__ == "OperationalError" and "disk is full" in str(exc)


class NotABranchmlRepository(BranchmlError):
    """A Git repository where branchml was never set up (no store): nothing to check or read."""

    exit_code = ExitCode.NO_STORE

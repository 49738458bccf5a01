"""One exception type for everything a user can fix; the CLI turns it into one clear line."""

from __future__ import annotations


class BranchmlError(Exception):
    """A problem the user can act on: what is wrong, where, and what to run next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class NotARepository(BranchmlError):
    exit_code = 2


class GitCommandError(BranchmlError):
    exit_code = 3


class RefChanged(GitCommandError):
    """A compare-and-swap ref update lost: the ref was not at the value the caller expected."""


class MalformedPointer(BranchmlError):
    exit_code = 4


class MissingObject(BranchmlError):
    """A file or chunk the store does not have (and could not fetch)."""

    exit_code = 5


class CorruptObject(BranchmlError):
    """Stored bytes that do not match their id."""

    exit_code = 6


class StoreFormatError(BranchmlError):
    exit_code = 7


class CheckFailed(BranchmlError):
    """A check ran and found what it looks for (a rerun that does not reproduce, a moved example)."""

    exit_code = 1


class GitTooOld(BranchmlError):
    """The installed Git is older than the oldest version branchml supports."""

    exit_code = 9


class ServeError(BranchmlError):
    """A tag that cannot be served: no [serve] settings, a missing file, a broken entry point."""

    exit_code = 10


class UntrustedModel(ServeError):
    """A committed model file holds types nobody declared trusted (skops refuses to load them)."""

    exit_code = 11


class SettingError(BranchmlError):
    """A setting in branchml.toml or local.toml has the wrong type: names the file and the setting."""

    exit_code = 12


class NoSpace(BranchmlError):
    """The disk is full (or over quota): names the file that could not be written."""

    exit_code = 13

    def __init__(self, path: object) -> None:
        super().__init__(f"{path}: no space left on the device (nothing was lost: what was written before is intact)",
                         hint="free some space, then run the command again; `branchml gc` removes stored content nothing needs")


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, or SQLite's SQLITE_FULL ("database or disk is full")."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return type(exc).__name__ == "OperationalError" and "disk is full" in str(exc)


class NotABranchmlRepository(BranchmlError):
    """A Git repository where branchml was never set up (no store): nothing to check or read."""

    exit_code = 14

"""What happens to an error nobody planned for: one line for the user, the details in a crash log.

Known problems are BranchmlError subclasses and print one line with a hint. Anything else is a bug
(or an environment branchml did not foresee: a full disk, a locked SQLite file): the user sees one
line naming a crash log under the store's `logs/` folder, which holds the traceback and the
versions of branchml, Git and Python, so a bug report carries what is needed to fix it.
"""

from __future__ import annotations

import itertools
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from branchml.errors import BranchmlError, ExitCode
from branchml.git import plumbing
from branchml.version import __version__


def logs_dir(cwd: str | os.PathLike[str] | None = None) -> Path:
    """`<git common dir>/branchml/logs`, or a temporary folder outside a repository."""
    try:
        return plumbing.repo_paths(cwd).common_dir / "branchml" / "logs"
    except BranchmlError:
        return Path(tempfile.gettempdir()) / "branchml-logs"


def write_crash_log(exc: BaseException, command: str, cwd: str | os.PathLike[str] | None = None) -> Path:
    """Write the traceback and versions to a new file under logs_dir(cwd); returns its path."""
    folder = logs_dir(cwd)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in itertools.count():
        path = folder / f"crash-{stamp}-{os.getpid()}-{n}.log"
        try:
            with open(path, "x", errors="backslashreplace") as f:  # never overwrite another crash
                f.write(crash_report(exc, command))
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def crash_report(exc: BaseException, command: str) -> str:
    try:
        git = ".".join(map(str, plumbing.git_version()))
    except Exception as err:  # the report must be written even when Git is the problem
        git = f"unknown ({err})"
    lines = [
        f"command: {command}",
        f"cwd: {os.getcwd()}",
        f"branchml: {__version__}",
        f"git: {git}",
        f"python: {sys.version.split()[0]} ({platform.platform()})",
        "",
        *traceback.format_exception(exc),
    ]
    return "\n".join(line.rstrip("\n") for line in lines) + "\n"


def crash_line(exc: BaseException, log: Path | None) -> str:
    where = f"details in {log}" if log else "no crash log could be written"
    return f"unexpected error {type(exc).__name__}: {exc} ({where}; please attach it to a bug report)"


def report_crash(exc: BaseException, command: str, cwd: str | os.PathLike[str] | None = None) -> str:
    """Write the crash log (if at all possible) and return the one line to show."""
    try:
        log: Path | None = write_crash_log(exc, command, cwd)
    except OSError:
        log = None
    return crash_line(exc, log)


def guarded(command: str, body: Callable[[], int], *, crash_code: int = ExitCode.CRASH) -> int:
    """Run `body` under the error policy; returns the exit code (hooks and other click-less paths)."""
    try:
        return body()
    except BranchmlError as exc:
        sys.stderr.write(f"branchml: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:
        sys.stderr.write(f"branchml: {report_crash(exc, command)}\n")
        return crash_code

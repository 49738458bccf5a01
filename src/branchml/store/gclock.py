"""`<store>/gc.lock`: writers hold it shared for their whole life, gc exclusively while it sweeps.

See docs/store-format.md (write-order rules). A module of its own so that the store (which every
writer opens) and gc (which reads the store) both use it without importing each other.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from branchml.errors import BranchmlError

WRITER_WAIT_SECONDS = 1800.0  # a writer waits this long for a gc to finish before giving up
POLL_SECONDS = 0.05


class GcLock:
    """Exclusive (gc) or shared (writers) lock on `<store>/gc.lock`; waits up to `wait` seconds."""

    def __init__(self, root: Path, exclusive: bool, wait: float | None = None) -> None:
        self.fd = os.open(root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + (WRITER_WAIT_SECONDS if wait is None else wait)
        told = False
        while True:
            try:
                fcntl.flock(self.fd, mode)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = -1
                    raise _busy(exclusive) from None
                if not exclusive and not told:
                    sys.stderr.write("branchml: waiting for `branchml gc` to finish…\n")
                    sys.stderr.flush()
                    told = True
                time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def _busy(exclusive: bool) -> BranchmlError:
    if exclusive:
        return BranchmlError("another branchml process is writing to the store", hint="retry `branchml gc` when it is done")
    return BranchmlError("`branchml gc` is still running on this store", hint="retry when it is done")

"""Copy-on-write clones of files (reflinks): a new file that shares the source's blocks until either
side is written. Never a hard link: a write through a hard link would change the source too.

Linux only (FICLONE, on Btrfs, XFS with reflink=1, bcachefs, OCFS2...). Where the file system or the
platform cannot clone, `clone` answers False and the caller copies: never an error.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from pathlib import Path

FICLONE = 0x40049409  # _IOW(0x94, 9, int), linux/fs.h
# What FICLONE answers when it cannot clone here: another file system, no reflink support, not a
# regular file, an old kernel, or a sandbox that forbids the ioctl.
CANNOT = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.EBADF}


def clone(source: Path, target: Path, mode: int = 0o644) -> bool:
    """Create `target` (which must not exist) as a reflink of `source`; False if it cannot be one."""
    if not sys.platform.startswith("linux"):
        return False
    src = os.open(source, os.O_RDONLY)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            fcntl.ioctl(dst, FICLONE, src)
        except OSError as exc:
            os.close(dst)
            target.unlink()
            if exc.errno in CANNOT:
                return False
            raise
        os.close(dst)
        return True
    finally:
        os.close(src)

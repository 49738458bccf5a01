"""The clean filter's stat cache: a file Git hands over again, unchanged, is answered without hashing.

Why: Git re-cleans a file whose index entry is "racily clean" (Documentation/technical/racy-git.txt):
its mtime is not older than the index file, because it was written in the same second (Git compares
whole seconds unless built with USE_NSEC, as Debian's is not) as the `git add` that staged it. So
`git add f && git commit`, or a `git status` right after the add, sends every byte of a file that
was just added through the filter again, and the filter hashed it all a second time.

What makes an answer from the record safe (tests/test_statcache.py edits files in place to try):
- The record says (device, inode, size, mtime_ns, ctime_ns) -> pointer. The kernel sets ctime on
  every write, rename, chmod and utime, and no call sets it back, so a file written after the
  record has a later ctime; a file replaced by another has another inode.
- A record is written only when that is provable: the stat before and after the clean are equal,
  and both timestamps are older by SETTLE_NS than a moment before Git could start sending this file
  (`quiet_since`: before the filter's previous answer went out; Git sends a file only after it read
  that answer). A write in the same clock tick as the record (the racy case) cannot then go
  unseen: it would carry a later ctime. Whole-second timestamps (ext3, FAT, some network file
  systems) get a 2 s margin. Git's own racy-git check trusts the file system's clock the same way.
- Git's bytes must be the work tree file's: `git hash-object --path=P other-file` and textconv
  output are cleaned under P's name too. So the bytes Git sends are compared with the file's, block
  by block (memcmp; no hash), both when the record is made and when it is used.
- The recorded file must still be in the store (a gc may have dropped it), and the answer counts
  as a reuse, so a gc running meanwhile keeps it.
DVC keeps the same kind of cache, `.dvc/tmp/state` (SQLite: file hashes with their timestamps and
inodes, dvc.org "Internal Directories and Files"), for files it reads itself; Git LFS keeps none in
its filter and relies on Git's index, so it hashes a racily clean file again.
Records live in the store's index (table `clean_stats`, local, never committed), bounded to
store.CLEAN_STATS_KEPT paths.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from io import BufferedReader

from branchml.store.index import StatKey
from branchml.store.store import Readable

SETTLE_NS = 50_000_000  # above the coarse clock's tick (1-10 ms) that Linux stamps files with
WHOLE_SECOND_SETTLE_NS = 2_000_000_000  # file systems that keep seconds only (FAT keeps two)
# Git writes the index after the last clean; the entry is racy (re-cleaned later) only when the file's
# mtime second is not older than that. A clean cannot run faster than this, so a file that cannot
# finish within its mtime second is never recorded (and never pays the comparison).
FASTEST_CLEAN_BYTES_PER_S = 2 << 30


@dataclass(frozen=True)
class FileStat:
    """What identifies one version of a work tree file without reading it."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileStat | None:
        """The stat of a regular file (Git cleans only those; a symlink is not followed), or None."""
        try:
            st = os.lstat(path)
        except OSError:
            return None
        return cls.from_stat(st) if stat.S_ISREG(st.st_mode) else None

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    def key(self) -> StatKey:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode, self.device)

    def settled_before(self, moment_ns: int) -> bool:
        """Whether both timestamps are older than `moment_ns` by more than the clock's granularity."""
        whole_seconds = self.mtime_ns % 1_000_000_000 == 0 and self.ctime_ns % 1_000_000_000 == 0
        margin = WHOLE_SECOND_SETTLE_NS if whole_seconds else SETTLE_NS
        return max(self.mtime_ns, self.ctime_ns) < moment_ns - margin

    def may_turn_racy(self, now_ns: int) -> bool:
        """Whether Git may find this file racily clean once the clean that starts now is done."""
        soonest_end = now_ns + self.size * 1_000_000_000 // FASTEST_CLEAN_BYTES_PER_S
        return self.mtime_ns // 1_000_000_000 >= soonest_end // 1_000_000_000


def now_ns() -> int:
    return time.time_ns()  # CLOCK_REALTIME, the clock file timestamps come from


class SameAsFile:
    """Passes Git's bytes on unchanged and compares each block with the file's next bytes.

    `same` turns False at the first difference (and the file is not read further); `matched` is how
    many bytes compared equal before it, so a caller can replay them from the file."""

    def __init__(self, content: Readable, file: BufferedReader) -> None:
        self.content = content
        self.file = file
        self.same = True
        self.matched = 0
        self._mine = bytearray()

    def readinto(self, buffer: memoryview) -> int:
        n = self.content.readinto(buffer)
        if self.same:
            if len(self._mine) != n:
                self._mine = bytearray(n)
            got = self.file.readinto(self._mine)
            self.same = got == n and self._mine == buffer[:n]  # memcmp
            if self.same:
                self.matched += n
        return n

    def at_end_of_file(self) -> bool:
        """After the content ended: True when every byte matched and the file has no more."""
        return self.same and not self.file.read(1)


class Replay:
    """`matched` bytes read again from the file, then the block that differed, then the rest of Git's
    content: what Git sent, for a full clean after a comparison failed part way."""

    def __init__(self, file: BufferedReader, matched: int, block: bytes, content: Readable) -> None:
        file.seek(0)
        self.file, self.left = file, matched
        self.block = memoryview(block)
        self.content = content

    def readinto(self, buffer: memoryview) -> int:
        filled = 0
        while filled < len(buffer):
            if self.left:
                n = self.file.readinto(buffer[filled : filled + min(self.left, len(buffer) - filled)])
                if not n:
                    raise OSError("the file got shorter while Git sent it")
                self.left -= n
            elif self.block:
                n = min(len(self.block), len(buffer) - filled)
                buffer[filled : filled + n] = self.block[:n]
                self.block = self.block[n:]
            else:
                n = self.content.readinto(buffer[filled:])
                if not n:
                    break
            filled += n
        return filled

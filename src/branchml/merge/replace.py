"""`branchml-replace`: the incoming side wins (models, checkpoints).

Merging a stable branch's new model replaces the previous one without a conflict. When only ours
changed the file, ours is kept: "incoming" means the side that changed it.
"""

from __future__ import annotations


def merge_replace(base: bytes, ours: bytes, theirs: bytes) -> bytes:
    """The bytes Git should record: theirs, unless theirs did not change the file."""
    return ours if theirs == base else theirs

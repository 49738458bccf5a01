"""Peak memory of a branchml process, for bench/ (BRANCHML_RSS_LOG): the filter and every hook
write one line each, so a benchmark sees Git's helpers as well as Git itself."""

from __future__ import annotations

import os
import resource


def log_peak_rss() -> None:
    """Append this process's peak resident memory (KiB) to $BRANCHML_RSS_LOG, when it is set."""
    path = os.environ.get("BRANCHML_RSS_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")

"""Production logs on `monitor/<env>` branches: journaled, batched, committed with Git plumbing."""

from branchml.monitor.logger import Logger
from branchml.monitor.records import LogRecord

__all__ = ["LogRecord", "Logger"]

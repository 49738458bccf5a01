"""branchml: a whole ML project in one Git repository.

The public Python API lives in the submodules (``branchml.store``, ``branchml.project``);
the ``branchml`` command is a thin layer over them.
"""

from branchml.version import __version__

__all__ = ["__version__"]

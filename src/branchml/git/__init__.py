"""The git layer: every call to the git binary goes through :mod:`branchml.git.cmd`."""

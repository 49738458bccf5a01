"""Drive Oxen (the `oxenai` package from PyPI, installed in its own venv by run.py) like a CLI.

    <oxen venv>/bin/python bench/oxen_driver.py init|add|commit MSG|branch NAME|checkout NAME

Run in the repository folder. The `oxenai` wheel ships the Python API only (no `oxen` binary), so
each step is one process, as each step of the other tools is one `git`/`dvc` command.
"""

from __future__ import annotations

import os
import sys

import oxen
from oxen import user


def main(argv: list[str]) -> None:
    home = os.environ["HOME"]
    user.config_user("bench", "bench@example.com", os.path.join(home, ".config", "oxen", "user_config.toml"))
    repo = oxen.Repo(os.getcwd())
    step, *rest = argv
    if step == "init":
        repo.init()
    elif step == "commit":
        repo.add("data")
        repo.commit(rest[0])
    elif step == "add":
        repo.add("data")
    elif step == "branch":
        repo.checkout(rest[0], create=True)
    elif step == "checkout":
        repo.checkout(rest[0])
    else:
        raise SystemExit(f"unknown step {step!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

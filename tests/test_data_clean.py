"""data clean: user rules from the branch, row-level drops that keep every other byte, the report."""

from __future__ import annotations

import json

from conftest import bml, git
from data_helpers import (
    bml_json,
    csv_bytes,
    data_repo,
    head,
    jsonl,
    status,
    write_files,
)

RULES = '''
def check_file(path, data):
    return "spam upload" if b"BUY NOW" in data else None

def check_row(path, row):
    if isinstance(row, dict) and row.get("lang") == "xx":
        return "unknown language"
'''


def clean_branch(repo, files: dict[str, bytes], rules: str) -> None:
    """data/clean holding `files` under data/uploads/u1 (committed by hand, as a pull would) and rules.py."""
    data_repo(repo)
    git(repo, "switch", "-q", "-c", "data/clean")
    write_files(repo / "data/uploads/u1", files)
    (repo / "rules.py").write_text(rules)
    git(repo, "add", "data", "rules.py")
    git(repo, "commit", "-q", "-m", "Data and cleaning rules")


def test_user_rules_from_the_branch_run_and_are_named_in_the_report(repo):
    quoted = csv_bytes(["id", "lang", "text"], [["1", "en", "two\nlines, quoted"], ["2", "xx", "?"], ["3", "fr", "oui"]])
    clean_branch(repo, {"a.txt": b"hello\n", "ad.txt": b"BUY NOW!!!\n", "t.csv": quoted,
                        "bad.jsonl": b"{oops\n\n", "l.jsonl": jsonl([{"lang": "xx"}, {"lang": "en"}])}, RULES)
    result = bml_json(repo, "data", "clean", "--rules", "rules.py")

    files = {d["path"].rsplit("/", 1)[1]: (d["rule"], d["reason"]) for d in result["dropped_files"]}
    assert files == {"ad.txt": ("user:check_file", "spam upload"), "bad.jsonl": ("bad-rows", "no valid row left (2 dropped)")}
    rows = {(d["path"].rsplit("/", 1)[1], d["row"]): d["rule"] for d in result["dropped_rows"]}
    assert rows == {("t.csv", 4): "user:check_row", ("l.jsonl", 1): "user:check_row"}
    expected = csv_bytes(["id", "lang", "text"], [["1", "en", "two\nlines, quoted"], ["3", "fr", "oui"]])
    assert git(repo, "show", "HEAD:data/uploads/u1/t.csv").encode() == expected
    report = json.loads(git(repo, "show", f"HEAD:{result['report']}"))
    assert report["user_rules"] == {"script": "rules.py", "blob": git(repo, "rev-parse", "HEAD~1:rules.py").strip()}
    assert status(repo) == ""
    (repo / "rules.py").write_text("def check_file(path, data):\n    return 'everything'\n")  # not committed: not run
    assert bml_json(repo, "data", "clean", "--rules", "rules.py", "--all")["commit"] is None


def test_a_failing_rule_stops_the_clean_and_changes_nothing(repo):
    clean_branch(repo, {"a.txt": b"hello\n", "empty.txt": b""}, "def check_file(path, data):\n    raise ValueError('rule bug')\n")
    before = head(repo)
    proc = bml(repo, "data", "clean", "--rules", "rules.py", check=False)
    assert proc.returncode == 1 and "rules.py: check_file failed on data/uploads/u1/a.txt: ValueError: rule bug" in proc.stderr.decode()
    assert head(repo) == before and status(repo) == "" and (repo / "data/uploads/u1/empty.txt").exists()

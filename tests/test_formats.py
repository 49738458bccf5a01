"""The format documents and the code agree: every constant docs/store-format.md and docs/formats.md
quote (as `NAME = value`) is the code's value, the pointer grammar refuses a table of near misses,
and committed JSON carries a `format` that readers check."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from branchml.data import clean, split
from branchml.errors import BranchmlError, MalformedPointer
from branchml.monitor import baselines, labels, records
from branchml.monitor.checkreport import CHECK_REPORT_FORMAT
from branchml.monitor.query import tag_logs
from branchml.repo import Repo
from branchml.runs import tracking
from branchml.runs.baseline import BASELINE_FORMAT
from branchml.serve.frame import SCHEMA_FORMAT, parse_schema
from branchml.store import chunk, index, pack, pointer, store
from branchml.ui.monitoring import environment
from conftest import git

DOCS = Path(__file__).resolve().parents[1] / "docs"
MODULES = [store, pack, pointer, chunk, index, tracking, clean, split]


def quoted_constants(doc: str) -> dict[str, str]:
    """`NAME = value` spans in a document."""
    return dict(re.findall(r"`([A-Z][A-Z_]+) = ([^`]+)`", (DOCS / doc).read_text()))


def code_value(name: str) -> object:
    """The value of the module-level constant `name`, wherever in branchml it is defined."""
    owners = [m for m in MODULES if hasattr(m, name)]
    if not owners:
        pattern = re.compile(rf"^{name}\s*(:[^=]+)?=", re.M)
        package = Path(store.__file__).resolve().parents[1]
        for path in sorted(package.rglob("*.py")):
            if pattern.search(path.read_text()):
                dotted = ".".join(("branchml", *path.relative_to(package).with_suffix("").parts))
                owners.append(importlib.import_module(dotted.removesuffix(".__init__")))
    assert owners, f"documented constant {name} is in no module"
    return getattr(owners[0], name)


@pytest.mark.parametrize("doc", ["store-format.md", "formats.md"])
def test_documented_constants_match_the_code(doc):
    found = quoted_constants(doc)
    assert found, f"{doc} quotes no constants"
    for name, text in found.items():
        value = code_value(name)
        expected = eval(text.split(" (")[0], {}) if not isinstance(value, str) else text  # noqa: S307 - our own docs
        assert value == expected, f"{doc}: {name} = {text}, the code says {value!r}"


def test_store_format_document_states_the_three_version_markers_and_the_header_layout():
    text = (DOCS / "store-format.md").read_text()
    assert f"`{store.FORMAT_LINE.strip()}`" in text
    assert "42 4D 4C 50 41 43 4B 01" in text and pack.PACK_MAGIC == bytes.fromhex("424D4C5041434B01")
    assert f"`{pointer.HEADER.decode().strip()}`" in text
    assert pack.RECORD_HEADER.format in text and pack.RECORD_HEADER.size == 44 and "44-byte header" in text
    assert pack.RECORD_HEADER.format.startswith("<")  # little-endian, as documented
    for section in ("## Terminology", "## Byte order", "## Versioning", "## Changes", "MUST"):
        assert section in text


GOOD = b"branchml pointer v1\noid blake3:" + b"ab" * 32 + b"\nsize 12\n"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (GOOD.replace(b"v1", b"v2"), "unknown version"),
        (GOOD.replace(b"ab" * 32, b"AB" * 32), "upper-case hex"),
        (GOOD.replace(b"size 12", b"size 012"), "leading zero"),
        (GOOD[:-1], "no final newline"),
        (GOOD + b"extra\n", "something follows"),
        (GOOD.replace(b"blake3:", b"sha256:"), "not BLAKE3"),
        (GOOD.replace(b"\n", b"\r\n"), "CRLF"),
        (GOOD.replace(b"ab" * 32, b"ab" * 31), "short oid"),
        (GOOD.replace(b"size 12", b"size -1"), "negative size"),
        (GOOD.replace(b"size 12", b"size 99999999999999999999"), "size out of range"),
        (GOOD.replace(b"oid", b"OID"), "key case"),
        (GOOD + b" " * 200, "too long"),
    ],
)
def test_invalid_pointers_are_refused(content, why):
    with pytest.raises(MalformedPointer):
        pointer.parse_pointer(content, why)


def test_the_one_valid_encoding_parses_and_round_trips():
    parsed = pointer.parse_pointer(GOOD)
    assert parsed.size == 12 and parsed.encode() == GOOD


def _commit_record(repo: Path, name: str, record: dict) -> None:
    (repo / "tracking" / "runs").mkdir(parents=True, exist_ok=True)
    (repo / "tracking" / "runs" / name).write_text(json.dumps(record))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"record {name}")


FULL_RECORD = {  # every field `branchml run` writes, as it wrote them when records were dicts
    "tag": "acme-3", "branch": "stable/acme", "customer": "acme", "code_commit": "c0ffee" * 6 + "c0ff",
    "command": ["python", "train.py", "data/train.csv"], "steps": ["python eval.py"],
    "metrics": {"accuracy": 0.93, "loss": 1}, "params": {"depth": 4, "name": "rf"},
    "data_lineage": {"entries": [{"key": "Data-Source", "value": "s3://bucket/x.csv"}], "chain": []},
    "started": "2026-11-27T18:00:00+00:00", "finished": "2026-11-27T18:00:05+00:00", "duration_s": 5.012,
    "commit": "ab" * 20, "files": ["MODEL_CARD.md", "models/model.skops"],
}


def test_run_record_dataclass_commits_the_bytes_the_dict_records_had():
    before = (json.dumps({**FULL_RECORD, "format": 1}, indent=2, sort_keys=True, default=str) + "\n").encode()
    record = tracking.RunRecord.from_json(json.loads(before))
    assert record.metrics == {"accuracy": 0.93, "loss": 1} and record.files[-1] == "models/model.skops"
    assert tracking.encode_record(record) == before


def test_run_record_keeps_keys_it_does_not_know():
    record = tracking.RunRecord.from_json({**FULL_RECORD, "format": 1, "added_later": {"x": 1}})
    assert record.extra == {"added_later": {"x": 1}}
    assert json.loads(tracking.encode_record(record))["added_later"] == {"x": 1}


def test_run_records_carry_a_format_and_readers_check_it(tmp_path):
    assert json.loads(tracking.encode_record(tracking.RunRecord("a-1")))["format"] == tracking.RUN_RECORD_FORMAT
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    _commit_record(repo, "old-1.json", {"tag": "old-1"})  # before versioning: read as format 1
    assert [r.tag for r in tracking.read_records(Repo.find(repo))] == ["old-1"]
    _commit_record(repo, "new-1.json", {"tag": "new-1", "format": tracking.RUN_RECORD_FORMAT + 1})
    with pytest.raises(BranchmlError, match=r"new-1\.json: run record format 2; this branchml reads formats 1 to 1"):
        tracking.read_records(Repo.find(repo))


def test_split_manifest_header_is_its_version(tmp_path):
    examples = [split.Example("1", "a.csv", "train", "h")]
    assert split.manifest_bytes(examples).splitlines()[0].decode() == ",".join(split.MANIFEST_COLUMNS)


def test_label_lines_carry_our_format_and_readers_check_it(tmp_path):
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    labels.add_labels(repo, "x", [{"request_id": "r1", "label": "1", "format": 99}], "l.csv")  # a column named format
    [part] = [p for p in git(repo, "ls-tree", "-r", "--name-only", "monitor/x").split() if p.endswith(".jsonl")]
    assert json.loads(git(repo, "show", f"monitor/x:{part}"))["format"] == records.FORMAT
    assert labels.read_labels(repo, "x")["r1"].label == "1"
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "monitor/x")
    newer = tmp_path / "wt" / part.replace(".jsonl", "-newer.jsonl")
    newer.write_text(json.dumps({"format": records.FORMAT + 1, "request_id": "r2", "label": "0", "ts": "x"}) + "\n")
    git(tmp_path / "wt", "add", "-A")
    git(tmp_path / "wt", "commit", "-q", "-m", "a label line from a newer branchml")
    with pytest.raises(BranchmlError, match=r"-newer\.jsonl:1: label format 2, this branchml reads 1"):
        labels.read_labels(repo, "x")


def _commit_on(repo: Path, branch: str, files: dict[str, str]) -> None:
    """Commit `files` on a new branch of a plain repository (what a newer branchml would have pushed)."""
    git(repo, "switch", "-q", "--orphan", branch)
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{branch} from a newer branchml")


def test_log_records_and_check_reports_of_a_newer_format_are_refused_naming_them(tmp_path):
    """Every committed monitor JSON carries its `format`; the readers say which file needs a newer branchml."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    newer_record = {"format": records.FORMAT + 1, "tag": "t-1", "features": {}, "prediction": 1, "ts": "2026-01-01T00:00:00Z"}
    _commit_on(repo, "monitor/x", {
        "logs/t-1/2026-01-01/000000-j-1.jsonl": json.dumps(newer_record) + "\n",
        "reports/20260101T000000-000000Z.json": json.dumps({"format": CHECK_REPORT_FORMAT + 1, "alert": False}),
        "reports/20250101T000000-000000Z.json": json.dumps({"format": CHECK_REPORT_FORMAT, "alert": True, "alerts": ["a"]}),
    })
    with pytest.raises(BranchmlError, match=r"000000-j-1\.jsonl:1: log record format 2, this branchml reads 1"):
        tag_logs(repo, "t-1")
    newer, current = environment(Repo.find(repo), "x")["reports"]
    assert newer["report"] == {"error": "report format 2: this branchml reads 1; upgrade branchml"}
    assert current["alert"] is True and current["report"]["alerts"] == ["a"]


def test_an_input_schema_of_a_newer_format_is_refused_naming_it():
    assert [c.name for c in parse_schema(b'{"format": 1, "columns": [{"name": "x", "type": "double"}]}', "s.json")] == ["x"]
    with pytest.raises(ValueError, match=r"s\.json: input schema format 2, this branchml reads up to 1"):
        parse_schema(json.dumps({"format": SCHEMA_FORMAT + 1, "columns": []}).encode(), "s.json")


def test_a_drift_baseline_of_a_newer_format_is_refused_naming_the_tag_and_file(tmp_path):
    """`monitor check` reads the baseline committed with the tag; a newer branchml's is named, not misread."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    _commit_on(repo, "stable/x", {
        "branchml.toml": '[monitor]\nbaseline = "monitor/base.json"\n',
        "monitor/base.json": json.dumps({"format": BASELINE_FORMAT + 1, "features": {}}),
    })
    git(repo, "tag", "m-1")
    with pytest.raises(BranchmlError, match=r"m-1:monitor/base\.json: baseline format 2, this branchml reads 1"):
        baselines.load(Repo.find(repo), "m-1")
    _commit_on(repo, "stable/y", {
        "branchml.toml": '[monitor]\nbaseline = "monitor/base.json"\n',
        "monitor/base.json": json.dumps({"format": BASELINE_FORMAT, "features": {}}),
    })
    git(repo, "tag", "m-2")
    assert baselines.load(Repo.find(repo), "m-2").baseline == {"format": BASELINE_FORMAT, "features": {}}

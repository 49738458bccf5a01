"""The split: stable under appends, ratios within tolerance, row files cut exactly, leaks reported."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branchml.data.rows import read_row_file
from branchml.data.split import SPLITS, Settings, assign, split_rows
from conftest import bml, git
from data_helpers import (
    bml_json,
    csv_bytes,
    data_repo,
    jsonl,
    manifest,
    parquet,
    write_files,
)

ids = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=60, unique=True)
ratio_weights = st.tuples(st.integers(1, 20), st.integers(0, 20), st.integers(0, 20))


def ratios_of(weights: tuple[int, int, int]) -> tuple[float, float, float]:
    total = sum(weights)
    return tuple(w / total for w in weights)  # type: ignore[return-value]


def split_jsonl(rows: list[dict], key: str | None, seed: int, ratios) -> tuple[dict, dict[str, bytes]]:
    """Split one JSONL file in memory: example id -> split, and the bytes of each split file."""
    table = read_row_file("rows.jsonl", jsonl(rows))
    examples, numbers = split_rows(table, "rows.jsonl", Settings(ratios, seed, "src", key))
    return {e.example_id: e.split for e in examples}, {s: table.subset(n) for s, n in numbers.items()}


@given(ids, ids, st.integers(0, 2**31), ratio_weights)
@settings(max_examples=60, deadline=None)
def test_appending_rows_never_moves_an_existing_example(old_ids, new_ids, seed, weights):
    old = [{"id": i, "v": n} for n, i in enumerate(old_ids)]
    new = [{"id": i, "v": -1} for i in new_ids if i not in set(old_ids)]
    before, _ = split_jsonl(old, "id", seed, ratios_of(weights))
    after, parts = split_jsonl(old + new, "id", seed, ratios_of(weights))
    assert {k: after[k] for k in before} == before
    back = [json.loads(line) for s in SPLITS for line in parts[s].decode().splitlines()]
    assert sorted(r["id"] for r in back) == sorted(r["id"] for r in old + new)  # each row exactly once


@given(st.integers(0, 2**31), ratio_weights)
@settings(max_examples=15, deadline=None)
def test_split_sizes_follow_the_ratios_on_large_inputs(seed, weights):
    ratios = ratios_of(weights)
    n = 20_000
    counts = dict.fromkeys(SPLITS, 0)
    for i in range(n):
        counts[assign(f"example-{i}", seed, ratios)] += 1
    for name, ratio in zip(SPLITS, ratios):
        assert abs(counts[name] / n - ratio) < 0.02, (name, counts, ratios)
        if ratio == 0:
            assert counts[name] == 0


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=8)


@given(st.lists(st.tuples(cells, cells), max_size=30))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_csv_rows_keep_their_exact_bytes_through_a_split(records):
    data = csv_bytes(["id", "text"], [list(r) for r in records])
    table = read_row_file("t.csv", data)
    good = [r for r in table.rows if r.error is None]
    assert [tuple(r.value.values()) for r in good] == [r for r in records if any(c.strip() for c in r)]
    assert table.subset([r.number for r in table.rows]) == data


def split_branch_with(repo, files: dict[str, bytes], folder: str = "u1") -> None:
    """data/split holding `files` under data/uploads/<folder>, committed by hand (as a pull would)."""
    data_repo(repo)
    git(repo, "switch", "-q", "-c", "data/split")
    write_files(repo / "data/uploads" / folder, files)
    git(repo, "add", "data")
    git(repo, "commit", "-q", "-m", "Data to split")


def test_row_files_split_by_key_with_parquet_and_leaks_reported(repo):
    events = [{"id": f"e{i}", "value": i} for i in range(300)]
    tickets = [{"id": f"t{i}", "text": "same words"} for i in range(40)]  # one record under 40 ids
    folder = "u1"
    split_branch_with(repo, {"events.parquet": parquet(events), "tickets.jsonl": jsonl(tickets),
                             "people.csv": csv_bytes(["id", "name"], [[f"p{i}", f"n{i}"] for i in range(50)])})
    result = bml_json(repo, "data", "split", "--ratios", "0.7,0.15,0.15", "--seed", "3", "--key", "id")
    assert sum(result["counts"].values()) == 300 + 40 + 50

    pieces = [pq.read_table(repo / f"data/{s}/{folder}/events.parquet") for s in SPLITS]
    assert sorted(r["id"] for p in pieces for r in p.to_pylist()) == sorted(e["id"] for e in events)
    shown = manifest(repo)
    for split_name, piece in zip(SPLITS, pieces):
        assert all(shown[(f"data/uploads/{folder}/events.parquet", r["id"])] == split_name for r in piece.to_pylist())
    rows = list(csv.DictReader(io.StringIO((repo / f"data/train/{folder}/people.csv").read_text())))
    assert rows and all(shown[(f"data/uploads/{folder}/people.csv", r["id"])] == "train" for r in rows)

    assert len(result["leaks"]) == 1 and len(next(iter(result["leaks"].values()))) > 1
    proc = bml(repo, "data", "leaks", check=False)
    assert proc.returncode == 1 and "same" not in proc.stdout.decode() and "is in" in proc.stdout.decode()


def test_resplit_is_a_no_op_and_files_follow_their_content(repo):
    texts = {f"doc{i}.txt": f"document {i}\n".encode() for i in range(40)}
    texts["copy.txt"] = texts["doc3.txt"]  # a duplicate file must land beside its twin
    split_branch_with(repo, texts, "docs")
    first = bml_json(repo, "data", "split", "--ratios", "0.5,0.25,0.25", "--seed", "11")
    assert first["commit"] and first["leaks"] == {}
    shown = manifest(repo)
    assert shown[("data/uploads/docs/copy.txt", "docs/copy.txt")] == shown[("data/uploads/docs/doc3.txt", "docs/doc3.txt")]
    again = bml_json(repo, "data", "split")
    assert again["commit"] is None and again["counts"] == first["counts"]

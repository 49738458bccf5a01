"""The streamed record merge (`merge/external.py`) gives exactly what the whole-file merge gave.

The oracle is the in-memory implementation of ca6b526 (tests/merge_oracle_*.py): same bytes, same
conflict messages, same refusals, on random three-way edits (deletions, insertions, changes,
duplicates, keyed and unkeyed, every row format and JSON layout); and it holds when the entries spill
to disk and the records fall into many buckets.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import merge_oracle_jsonlist as oracle_json
import merge_oracle_rows as oracle_rows
from branchml.merge import external
from branchml.merge.jsonlist import merge_jsonlist
from branchml.merge.records import Unmergeable
from branchml.merge.rows import format_for, merge_rows

streamed_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.sampled_from(["a", "b", "c", "x,y", 'q"u', "é", ""])
items = st.tuples(st.one_of(st.none(), st.integers(0, 6)), values)  # (key or None, value)


@st.composite
def three_sides(draw):
    base = draw(st.lists(items, max_size=8))
    sides = [base]
    for _ in range(2):
        side = list(base)
        for _ in range(draw(st.integers(0, 4))):
            op = draw(st.sampled_from(["delete", "insert", "change", "append"]))
            at = draw(st.integers(0, max(0, len(side) - 1)))
            if op == "delete" and side:
                del side[at]
            elif op == "change" and side:
                side[at] = (side[at][0], draw(values))
            elif op == "insert":
                side.insert(at, draw(items))
            else:
                side.append(draw(items))
        sides.append(side)
    return sides


def outcome_of(merge, *args, **kwargs):
    try:
        out = merge(*args, **kwargs)
        return out.data, out.conflicts
    except Unmergeable as exc:
        return "unmergeable", str(exc)


def row_bytes(name: str, side: list, eol: str, final_eol: bool) -> bytes:
    if name.endswith(".csv"):
        lines = ["id,v"] + [f'{"" if k is None else k},"{v.replace(chr(34), chr(34) * 2)}"' for k, v in side]
    elif name.endswith(".jsonl"):
        lines = [json.dumps({"v": v} if k is None else {"id": k, "v": v}, ensure_ascii=False) for k, v in side]
    else:
        lines = [f"{k}:{v}" for k, v in side]
    text = eol.join(lines) + (eol if final_eol and lines else "")
    return text.encode()


@streamed_settings
@given(three_sides(), st.sampled_from(["x.csv", "x.jsonl", "x.txt"]), st.sampled_from([None, "id"]),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_streamed_rows_merge_equals_the_whole_file_merge(sides, name, key, eol, final_eol):
    data = [row_bytes(name, side, eol, final_eol) for side in sides]
    expected = outcome_of(oracle_rows.merge_rows, *data, fmt=oracle_rows.format_for(name), key=key)
    assert outcome_of(merge_rows, *data, fmt=format_for(name), key=key) == expected


def json_bytes(side: list, layout: str, final_eol: bool) -> bytes:
    elements = [v if k is None else {"id": k, "v": v} for k, v in side]
    text = {"indent": lambda: json.dumps(elements, indent=2), "compact": lambda: json.dumps(elements, separators=(",", ":")),
            "spaced": lambda: json.dumps(elements)}[layout]()
    return (text + ("\n" if final_eol else "")).encode()


@streamed_settings
@given(three_sides(), st.sampled_from([None, "id"]), st.sampled_from(["indent", "compact", "spaced"]),
       st.sampled_from(["indent", "compact", "spaced"]), st.booleans())
def test_streamed_json_merge_equals_the_whole_document_merge(sides, key, ours_layout, other_layout, final_eol):
    data = [json_bytes(side, ours_layout if i == 1 else other_layout, final_eol) for i, side in enumerate(sides)]
    expected = outcome_of(oracle_json.merge_jsonlist, *data, key=key)
    assert outcome_of(merge_jsonlist, *data, key=key) == expected


@streamed_settings
@given(three_sides(), st.sampled_from(["x.csv", "x.jsonl"]), st.sampled_from([None, "id"]))
def test_spilled_and_bucketed_merge_is_the_same(sides, name, key):
    data = [row_bytes(name, side, "\n", True) * 3 for side in sides]  # repeated: duplicate keys and values too
    expected = outcome_of(oracle_rows.merge_rows, *data, fmt=oracle_rows.format_for(name), key=key)
    with pytest.MonkeyPatch.context() as patch:  # spill after a few entries, into up to 64 buckets
        patch.setattr(external, "HELD_BYTES", 300)
        patch.setattr(external, "BUCKET_INPUT", 8)
        patch.setattr(external, "MAX_BUCKETS", 64)
        assert outcome_of(merge_rows, *data, fmt=format_for(name), key=key) == expected


def test_json_errors_still_name_the_side():
    assert outcome_of(merge_jsonlist, b"[1]", b"[1, 2]", b"[1, oops")[1].startswith("theirs is not valid JSON")
    assert outcome_of(merge_jsonlist, b"[1]", b"[1, 2]", b"[1] x")[1].startswith("theirs is not valid JSON")
    assert outcome_of(merge_jsonlist, b"[1]", b"[1, 2]", b'{"a": 1}') == ("unmergeable", "one side is a JSON list and another a JSON object")


def test_a_long_element_across_many_blocks(monkeypatch):
    monkeypatch.setattr(external, "BLOCK", 7)
    base = json.dumps([{"id": 1, "text": "é" * 50}, 12345678901234567890, 1.5e300]).encode()
    ours = base[:-1] + b", 3]"
    theirs = base[:-1] + b', "tail"]'
    assert merge_jsonlist(base, ours, theirs) == oracle_json.merge_jsonlist(base, ours, theirs)

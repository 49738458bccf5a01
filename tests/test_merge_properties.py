"""Properties of the data merges (Hypothesis): what Git relies on, and that nothing appended is lost."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branchml.merge.jsonlist import canonical, merge_jsonlist
from branchml.merge.records import Conflict, Record, merge_records
from branchml.merge.replace import merge_replace
from branchml.merge.rows import format_for, merge_rows

# Per test, not a global profile: other test files keep their own Hypothesis settings.
merge_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
json_lists = st.lists(json_values, max_size=8)
cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)


def dump(items: list) -> bytes:
    return json.dumps(items).encode() + b"\n"


def parsed(data: bytes) -> list:
    return json.loads(data)


def as_multiset(items: list) -> Counter:
    return Counter(canonical(x) for x in items)


# -- JSON lists ---------------------------------------------------------------------------------
@merge_settings
@given(json_lists, json_lists)
def test_jsonlist_same_change_on_both_sides_is_that_change(base, ours):
    out = merge_jsonlist(dump(base), dump(ours), dump(ours))
    assert out.clean and out.data == dump(ours)


@merge_settings
@given(json_lists, json_lists)
def test_jsonlist_change_on_their_side_only_is_theirs(base, theirs):
    out = merge_jsonlist(dump(base), dump(base), dump(theirs))
    assert out.clean and out.data == dump(theirs)


@merge_settings
@given(json_lists, json_lists, json_lists)
def test_jsonlist_keeps_everything_both_sides_appended(base, ours_added, theirs_added):
    out = merge_jsonlist(dump(base), dump(base + ours_added), dump(base + theirs_added))
    merged = parsed(out.data)
    assert out.clean
    assert merged[: len(base) + len(ours_added)] == base + ours_added  # ours first, untouched
    have = as_multiset(merged)
    assert not as_multiset(base + ours_added) - have
    assert not as_multiset(base + theirs_added) - have
    # an element both sides appended is kept once, nothing else is invented
    assert have == as_multiset(base) + (as_multiset(ours_added) | as_multiset(theirs_added))


@merge_settings
@given(json_lists, json_lists)
def test_jsonlist_removal_on_one_side_wins_over_an_untouched_element(kept, removed):
    base = kept + removed
    out = merge_jsonlist(dump(base), dump(kept), dump(base + [{"new": 1}]))
    assert out.clean
    assert as_multiset(parsed(out.data)) == as_multiset(kept + [{"new": 1}])


@merge_settings
@given(st.lists(st.integers(0, 50), unique=True, max_size=8), st.integers(0, 50), st.text(max_size=5), st.text(max_size=5))
def test_jsonlist_concurrent_edits_of_one_key_conflict(ids, key, ours_value, theirs_value):
    base = [{"id": i, "v": "base"} for i in ids if i != key] + [{"id": key, "v": "base"}]
    ours = [r if r["id"] != key else {"id": key, "v": "o" + ours_value} for r in base] + [{"id": 1000, "v": "x"}]
    theirs = [r if r["id"] != key else {"id": key, "v": "t" + theirs_value} for r in base]
    out = merge_jsonlist(dump(base), dump(ours), dump(theirs), key="id")
    assert len(out.conflicts) == 1 and f"id={key}" in out.conflicts[0]
    assert b"<<<<<<< ours (id=" in out.data and b">>>>>>> theirs" in out.data


@merge_settings
@given(st.lists(st.integers(0, 50), unique=True, min_size=1, max_size=8), st.data())
def test_jsonlist_edits_of_different_keys_merge(ids, data):
    base = [{"id": i, "v": 0} for i in ids]
    mine = data.draw(st.sampled_from(ids))
    other = data.draw(st.sampled_from(ids))
    ours = [dict(r, v=1) if r["id"] == mine else r for r in base]
    theirs = [dict(r, v=2) if r["id"] == other else r for r in base]
    out = merge_jsonlist(dump(base), dump(ours), dump(theirs), key="id")
    if mine == other:
        assert out.conflicts
    else:
        merged = {r["id"]: r["v"] for r in parsed(out.data)}
        assert out.clean and merged[mine] == 1 and merged[other] == 2


# -- the record core without the byte shortcuts ---------------------------------------------------
records = st.lists(st.tuples(st.integers(0, 5), st.sampled_from([None, "a", "b", "c"])), max_size=10)


def as_records(pairs, keyed: bool) -> list[Record]:
    seen, out = set(), []
    for value, key in pairs:
        if keyed and key is not None:
            if key in seen:
                continue
            seen.add(key)
            out.append(Record((key, value), (key, value), key))
        else:
            out.append(Record((None, value), (None, value)))
    return out


@merge_settings
@given(records, records, st.booleans())
def test_record_merge_of_identical_sides_is_that_side(base, ours, keyed):
    base, ours = as_records(base, keyed), as_records(ours, keyed)
    assert merge_records(base, ours, ours) == ours


@merge_settings
@given(records, records, st.booleans())
def test_record_merge_with_ours_unchanged_holds_theirs(base, theirs, keyed):
    base, theirs = as_records(base, keyed), as_records(theirs, keyed)
    merged = merge_records(base, base, theirs)
    assert not any(isinstance(m, Conflict) for m in merged)
    assert Counter(r.ident for r in merged) == Counter(r.ident for r in theirs)


# -- rows ---------------------------------------------------------------------------------------
def csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)  # CRLF, as the csv module writes by default
    return buf.getvalue().encode()


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


row_lists = st.lists(st.lists(cells, min_size=3, max_size=3), max_size=6)
HEADER = [["id", "text", "label"]]


@merge_settings
@given(row_lists, row_lists, row_lists)
def test_csv_rows_appended_on_both_sides_are_all_kept(base, ours_added, theirs_added):
    out = merge_rows(
        csv_bytes(HEADER + base), csv_bytes(HEADER + base + ours_added), csv_bytes(HEADER + base + theirs_added),
        fmt=format_for("data/x.csv"),
    )
    merged = csv_rows(out.data)
    assert out.clean and merged[0] == HEADER[0]
    body = Counter(map(tuple, merged[1:]))
    assert not Counter(map(tuple, base + ours_added)) - body
    assert not Counter(map(tuple, base + theirs_added)) - body


@merge_settings
@given(row_lists, row_lists)
def test_csv_identity_properties(base, other):
    fmt = format_for("x.csv")
    b, o = csv_bytes(HEADER + base), csv_bytes(HEADER + other)
    assert merge_rows(b, o, o, fmt=fmt).data == o
    assert merge_rows(b, b, o, fmt=fmt).data == o


@merge_settings
@given(st.lists(st.text(max_size=6), max_size=5), st.lists(st.text(max_size=6), max_size=5), st.lists(st.text(max_size=6), max_size=5))
def test_jsonl_rows_appended_on_both_sides_are_all_kept(base, ours_added, theirs_added):
    lines = lambda items: b"".join(json.dumps({"t": t}).encode() + b"\n" for t in items)
    out = merge_rows(lines(base), lines(base + ours_added), lines(base + theirs_added), fmt=format_for("a.jsonl"))
    merged = Counter(json.loads(line)["t"] for line in out.data.splitlines())
    assert not Counter(base + ours_added) - merged and not Counter(base + theirs_added) - merged


@merge_settings
@given(st.integers(1, 20), cells, cells)
def test_csv_concurrent_edits_of_one_key_conflict(key, ours_text, theirs_text):
    base = [[str(i), "same", "x"] for i in range(1, 21)]
    ours = [[r[0], "o" + ours_text, r[2]] if r[0] == str(key) else r for r in base]
    theirs = [[r[0], "t" + theirs_text, r[2]] if r[0] == str(key) else r for r in base] + [["99", "new", "y"]]
    out = merge_rows(csv_bytes(HEADER + base), csv_bytes(HEADER + ours), csv_bytes(HEADER + theirs), fmt=format_for("x.csv"), key="id")
    assert out.conflicts == [f"row with id={key} changed differently on both sides"]
    assert b"99,new,y\r\n" in out.data and b"=======\r\n" in out.data


def test_csv_same_change_on_both_sides_is_not_a_conflict():
    base = csv_bytes(HEADER + [["1", "a", "x"], ["2", "b", "y"]])
    ours = csv_bytes(HEADER + [["1", "A", "x"], ["2", "b", "y"], ["3", "c", "z"]])
    theirs = csv_bytes(HEADER + [["1", "A", "x"], ["2", "b", "y"], ["4", "d", "w"]])
    out = merge_rows(base, ours, theirs, fmt=format_for("x.csv"), key="id")
    assert out.clean and csv_rows(out.data)[1:] == [["1", "A", "x"], ["2", "b", "y"], ["3", "c", "z"], ["4", "d", "w"]]


def test_csv_with_different_headers_is_unmergeable():
    from branchml.merge.records import Unmergeable

    with pytest.raises(Unmergeable, match="headers differ"):
        merge_rows(b"a,b\n1,2\n", b"a,b\n1,2\n3,4\n", b"a,c\n1,2\n", fmt=format_for("x.csv"))


@merge_settings
@given(st.binary(max_size=20), st.binary(max_size=20), st.binary(max_size=20))
def test_replace_takes_the_side_that_changed(base, ours, theirs):
    assert merge_replace(base, ours, theirs) == (ours if theirs == base else theirs)
    assert merge_replace(base, ours, base) == ours


# -- the streaming path for appended rows gives what the general merge gives -----------------------
@merge_settings
@given(row_lists, row_lists, row_lists, st.sampled_from(["x.csv", "x.tsv", "x.jsonl", "x.txt"]))
def test_streamed_append_merge_equals_the_general_merge(tmp_path_factory, base, ours_added, theirs_added, name):
    from branchml.merge import append
    from branchml.merge.sides import read_side

    fmt = format_for(name)
    data = [csv_bytes(HEADER + rows) for rows in (base, base + ours_added, base + theirs_added)]
    if data[1] in (data[0], data[2]) or data[0] == data[2]:
        return  # trivial cases never reach either path
    tmp = tmp_path_factory.mktemp("append")
    sides = []
    for side, content in zip(("base", "ours", "theirs"), data):
        (tmp / side).write_bytes(content)
        sides.append(read_side(side, tmp / side, name))
    digest, size, at_row_end = append.base_digest(sides[0], None, name)
    assert at_row_end
    tails = [append.tail_after_prefix(s, None, name, digest, size, 1 << 20) for s in sides[1:]]
    append.write_appended(tmp / "result", sides[1], tails[0], append.theirs_extra(*tails, fmt), None, name)
    assert (tmp / "result").read_bytes() == merge_rows(*data, fmt=fmt).data


def test_streamed_path_refuses_a_side_that_edited_the_base(tmp_path):
    from branchml.merge import append
    from branchml.merge.sides import read_side

    (tmp_path / "b").write_bytes(b"1\n2\n")
    (tmp_path / "o").write_bytes(b"1\nX\n3\n")
    base, ours = read_side("base", tmp_path / "b", "x"), read_side("ours", tmp_path / "o", "x")
    digest, size, _ = append.base_digest(base, None, "x")
    assert append.tail_after_prefix(ours, None, "x", digest, size, 1 << 20) is None


def test_hostile_inputs_are_conflicts_not_crashes():
    from branchml.merge.records import Unmergeable

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(Unmergeable, match="nested too deeply"):
        merge_jsonlist(b"[]", b"[1]", deep)
    huge_field = b"id,v\n1," + b"x" * 200_000 + b"\n"
    with pytest.raises(Unmergeable, match="cannot be read as CSV"):
        merge_rows(b"id,v\n", b"id,v\n2,y\n", huge_field, fmt=format_for("x.csv"), key="id")
    # without a key such a row is simply compared as bytes, and kept
    assert huge_field.splitlines()[1] in merge_rows(b"id,v\n", b"id,v\n2,y\n", huge_field, fmt=format_for("x.csv")).data


field_edits = st.dictionaries(st.sampled_from("abcdef"), st.one_of(st.none(), st.integers(0, 3)), max_size=4)


@merge_settings
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 3), max_size=5), field_edits, field_edits)
def test_json_objects_merge_field_by_field(base, ours_edits, theirs_edits):
    def edit(changes):
        out = dict(base)
        for k, v in changes.items():
            out.pop(k, None) if v is None else out.__setitem__(k, v)
        return out

    ours, theirs = edit(ours_edits), edit(theirs_edits)
    out = merge_jsonlist(json.dumps(base).encode(), json.dumps(ours).encode(), json.dumps(theirs).encode())
    clashes = {k for k in ours.keys() | theirs.keys() | base.keys()
               if ours.get(k) != theirs.get(k) and ours.get(k) != base.get(k) and theirs.get(k) != base.get(k)}
    assert sorted(out.conflicts) == sorted(f"field {json.dumps(k)} " + (
        "deleted on one side and changed on the other" if None in (ours.get(k), theirs.get(k)) else "changed differently on both sides")
        for k in clashes)
    if not clashes:
        expected = {k: (theirs.get(k) if ours.get(k) == base.get(k) else ours.get(k)) for k in ours.keys() | theirs.keys()}
        assert json.loads(out.data) == {k: v for k, v in expected.items() if v is not None}

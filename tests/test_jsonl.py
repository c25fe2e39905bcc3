"""The one JSON Lines reader (safealign.utils.jsonl): line numbers, one-line errors, the modes its users need."""

from __future__ import annotations

import pytest

from safealign.errors import DataError
from safealign.utils.jsonl import iter_jsonl, read_json_rows, read_jsonl


def test_rows_are_numbered_by_their_line_and_a_bom_and_blank_lines_are_fine(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": 2}\n')
    assert list(iter_jsonl(p)) == [(1, {"a": 1}), (4, {"a": 2})]
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}]


def test_a_bad_line_raises_yields_or_is_skipped(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    with pytest.raises(DataError) as e:
        read_jsonl(p)
    assert e.value.row == 2 and e.value.file == str(p) and "invalid JSON" in str(e.value)
    rows = list(iter_jsonl(p, on_error="yield"))
    assert [r for _, r in rows][0] == {"a": 1} and isinstance(rows[1][1], DataError) and rows[1][0] == 2
    assert [r for _, r in iter_jsonl(p, on_error="skip")] == [{"a": 1}, {"a": 3}]


def test_only_a_torn_last_line_is_forgiven(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"ste')
    assert read_jsonl(p, torn_tail=True) == [{"step": 1}, {"step": 2}]
    with pytest.raises(DataError):
        read_jsonl(p)
    p.write_text('{"ste\n{"step": 2}\n')
    with pytest.raises(DataError) as e:
        read_jsonl(p, torn_tail=True)
    assert e.value.row == 1


def test_objects_missing_files_and_json_lists(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match="expected a JSON object") as e:
        read_jsonl(p)
    assert e.value.row == 2
    assert read_jsonl(p, objects=False) == [{"a": 1}, [1, 2]]
    with pytest.raises(DataError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl")
    j = tmp_path / "e.json"
    j.write_text('[{"a": 1}, {"a": 2}]')
    assert read_json_rows(j) == [{"a": 1}, {"a": 2}]
    (tmp_path / "f.jsonl").write_text('{"a": 1}\n')
    assert read_json_rows(tmp_path / "f.jsonl") == [{"a": 1}]
    j.write_text('{"a": 1}')
    with pytest.raises(DataError, match="expected a JSON list"):
        read_json_rows(j)
    j.write_text('[{"a": 1}, 3]')
    with pytest.raises(DataError, match="expected a JSON object") as e:
        read_json_rows(j)
    assert e.value.row == 2

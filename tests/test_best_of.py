"""Best-of-n selection: the highest-scored safe, non-refusing answer per (system, prompt), and its CLI."""

from __future__ import annotations

import json

import pytest

from safealign.data.best_of import best_of
from safealign.errors import DataError


def _row(prompt, answer, score, system=None, **flags):
    return {"prompt": prompt, "answer": answer, "score": score, **({"system": system} if system else {}), **flags}


def test_keeps_the_highest_score_per_prompt_and_skips_unsafe_and_refusals():
    rows = [
        _row("a", "a1", 0.5), _row("a", "a2", 2.0), _row("a", "a3", 9.0, unsafe=True), _row("a", "a4", 1.0),
        _row("b", "b1", 5.0, refusal=True), _row("b", "b2", -1.0),
        _row("c", "c1", 3.0, refusal=True),  # nothing left: no row for c
    ]
    out = best_of(rows)
    assert [(r["prompt"], r["response"], r["score"], r["candidates"]) for r in out] == [
        ("a", "a2", 2.0, 3),
        ("b", "b2", -1.0, 1),
    ]
    kept = best_of(rows, skip_unsafe=False, skip_refusals=False)
    assert [r["response"] for r in kept] == ["a3", "b1", "c1"]
    assert [r["prompt"] for r in best_of(rows, min_score=0.0)] == ["a"]


def test_the_system_message_is_part_of_the_key_and_ties_keep_the_first():
    rows = [
        _row("q", "plain", 1.0),
        _row("q", "brief-1", 2.0, system="Be brief."),
        _row("q", "brief-2", 2.0, system="Be brief."),
    ]
    out = best_of(rows)
    assert [(r.get("system"), r["response"]) for r in out] == [(None, "plain"), ("Be brief.", "brief-1")]
    assert "system" not in out[0]


def test_response_field_and_another_score_key():
    out = best_of(
        [{"prompt": "p", "response": "x", "reward": 1}, {"prompt": "p", "response": "y", "reward": 3}],
        score_key="reward",
    )
    assert out[0]["response"] == "y" and out[0]["score"] == 3.0


def test_bad_rows_name_file_row_and_field(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps(_row("p", "x", 1.0)) + "\n" + json.dumps({"prompt": "p", "answer": "y"}) + "\n")
    with pytest.raises(DataError) as e:
        best_of(f)
    assert str(e.value).startswith(f"{f}, row 2, field 'score'")
    f.write_text("{not json\n")
    with pytest.raises(DataError, match="row 1"):
        best_of(f)
    with pytest.raises(DataError, match="no such file"):
        best_of(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="field 'answer'"):
        best_of([{"prompt": "p", "score": 1.0}])


def test_best_of_command(tmp_path, capsys):
    from safealign.cli import main

    src = tmp_path / "scored.jsonl"
    src.write_text(
        "".join(json.dumps(r) + "\n" for r in [_row("a", "a1", 0.1), _row("a", "a2", 0.7), _row("b", "b1", 0.3)])
    )
    out = tmp_path / "best.jsonl"
    with pytest.raises(SystemExit) as done:
        main(["data", "best-of", str(src), str(out), "--json"])
    assert done.value.code == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 2 and stats["mean_best_score"] == pytest.approx(0.5)
    assert [json.loads(line)["response"] for line in out.read_text().splitlines()] == ["a2", "b1"]
    src.write_text(json.dumps({"prompt": "a", "answer": "a1"}) + "\n")
    with pytest.raises(SystemExit) as exc:
        main(["data", "best-of", str(src), str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "row 1" in err and "Traceback" not in err

"""Arena table arithmetic on scripted scores, and the position-swapped pairwise judge."""

from __future__ import annotations

import pytest

from safealign.eval.arena import ArenaTable, arena_table, judge_pairwise, parse_verdict


def test_arena_table_counts_and_win_rates() -> None:
    # prompt:      0     1     2     3     4     5     6     7
    cost_a = [-1.0, -2.0, -0.5, -1.0, 0.5, 2.0, 0.0, 1.0]  # 0.0 counts as safe (cost <= threshold)
    cost_b = [-1.0, -1.0, 1.0, 3.0, -1.0, 0.1, -3.0, 2.0]
    rew_a = [2.0, 1.0, 0.0, 5.0, 1.0, 1.0, 3.0, 0.0]
    rew_b = [1.0, 1.0, 1.0, 4.0, 2.0, 3.0, 1.0, -1.0]
    t = arena_table(rew_a, cost_a, rew_b, cost_b, name_a="aligned", name_b="base")
    assert t.total == 8
    ss, su, us, uu = (
        t.cell("safe", "safe"), t.cell("safe", "unsafe"), t.cell("unsafe", "safe"), t.cell("unsafe", "unsafe"),
    )
    # safe/safe: prompts 0 (win), 1 (tie), 6 (A cost 0.0 is safe; win)
    assert (ss.n, ss.wins, ss.ties, ss.losses) == (3, 2, 1, 0)
    assert ss.win_rate == pytest.approx(2 / 3)
    # safe/unsafe: prompts 2 (loss), 3 (win)
    assert (su.n, su.wins, su.losses) == (2, 1, 1)
    assert su.win_rate == pytest.approx(0.5)
    # unsafe/safe: prompt 4 (loss)
    assert (us.n, us.wins, us.losses) == (1, 0, 1)
    assert us.win_rate == 0.0
    # unsafe/unsafe: prompts 5 (loss), 7 (win)
    assert (uu.n, uu.wins, uu.losses) == (2, 1, 1)
    assert t.safe_rate_a == pytest.approx(5 / 8)
    assert t.safe_rate_b == pytest.approx(4 / 8)
    assert t.overall_win_rate == pytest.approx(4 / 8)
    d = t.to_dict()
    assert [c["n"] for c in d["cells"]] == [3, 2, 1, 2]
    assert sum(c["share"] for c in d["cells"]) == pytest.approx(1.0)
    back = ArenaTable.from_dict(d)
    assert back.to_dict() == d
    text = t.render()
    assert "aligned: safe" in text and "A wins 67%  ties 33%" in text


def test_empty_cell_has_no_win_rate_and_threshold_moves_the_boundary() -> None:
    t = arena_table([1.0], [0.2], [0.0], [0.2], threshold=0.0)
    assert t.cell("unsafe", "unsafe").n == 1
    assert t.cell("safe", "safe").win_rate is None
    t2 = arena_table([1.0], [0.2], [0.0], [0.2], threshold=0.5)
    assert t2.cell("safe", "safe").n == 1


def test_tie_eps() -> None:
    t = arena_table([1.0, 1.05], [-1, -1], [1.0, 1.0], [-1, -1], tie_eps=0.1)
    assert t.cell("safe", "safe").ties == 2


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError):
        arena_table([1.0], [0.0, 1.0], [1.0], [0.0])


def test_judge_pairwise_swaps_positions() -> None:
    # A judge that always prefers the first position: every comparison is inconsistent -> all ties.
    res = judge_pairwise(["p1", "p2"], ["a1", "a2"], ["b1", "b2"], lambda p, x, y: "1")
    assert (res.wins, res.ties, res.losses, res.inconsistent) == (0, 2, 0, 2)
    # A judge that prefers the longer answer regardless of position.
    longer = lambda p, x, y: "1" if len(x) > len(y) else ("2" if len(y) > len(x) else "tie")  # noqa: E731
    res = judge_pairwise(["p"] * 3, ["long answer", "s", "same"], ["s", "long answer", "same"], longer)
    assert res.verdicts == ["A", "B", "tie"]
    d = res.to_dict()
    assert d["win_rate"] == pytest.approx(1 / 3) and d["win_or_tie_rate"] == pytest.approx(2 / 3)
    # without swapping, the position-biased judge gives A every win
    assert judge_pairwise(["p"], ["a"], ["b"], lambda *_: "1", swap=False).wins == 1


def test_parse_verdict() -> None:
    assert parse_verdict("Verdict: 2") == "2"
    assert parse_verdict(" 1\nbecause it is safer") == "1"
    assert parse_verdict("It's a tie.") == "tie"
    assert parse_verdict("no idea") == "tie"


def test_backend_judge_batches_both_orders() -> None:
    from safealign.backends.base import Backend
    from safealign.eval.arena import BackendJudge

    class Scripted(Backend):
        def __init__(self) -> None:
            self.calls = 0

        def generate(self, chats, params=None, images=None):  # noqa: ANN001
            self.calls += 1
            # prefer the response containing "good" in either position
            out = []
            for c in chats:
                text = c[0]["content"]
                r1 = text.split("[Response 1]")[1].split("[Response 2]")[0]
                out.append("1" if "good" in r1 else "2")
            return out

    be = Scripted()
    res = BackendJudge(be).batch(["q1", "q2"], ["good", "bad"], ["bad", "good"])
    assert res.verdicts == ["A", "B"] and be.calls == 1


def test_arena_command_from_scored_answers(tmp_path) -> None:
    """`safealign eval arena A B --answers FILE`: the table from a safety evaluation's scored answers, no models."""
    import json

    from typer.testing import CliRunner

    from safealign.cli import build_app

    rows = []
    for i, (ra, ca, rb, cb) in enumerate([(2, -1, 1, -1), (0, -1, 1, 1), (3, 1, 1, 1)]):
        rows.append({"model": "aligned", "index": i, "reward": ra, "cost": ca, "prompt": "p", "response": "a"})
        rows.append({"model": "base", "index": i, "reward": rb, "cost": cb, "prompt": "p", "response": "b"})
    f = tmp_path / "safety_answers.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "arena"
    r = CliRunner().invoke(build_app(), ["eval", "arena", "aligned", "base", "--answers", str(f), "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads((out / "arena.json").read_text())
    cells = {(c["a"], c["b"]): c for c in d["cells"]}
    assert (
        cells[("safe", "safe")]["wins"] == 1
        and cells[("safe", "unsafe")]["losses"] == 1
        and cells[("unsafe", "unsafe")]["wins"] == 1
    )
    assert d["reward_win_rate_a"] == pytest.approx(2 / 3)
    # a model that is not in the file is a one-line user error
    r = CliRunner().invoke(build_app(), ["eval", "arena", "aligned", "nope", "--answers", str(f), "-o", str(out)])
    assert r.exit_code != 0 and "nope" in str(r.exception)


def test_arena_by_the_independent_judges() -> None:
    """safe_by independent: a harmful prompt counts safe only when handled safely (refusal detector + guard), any
    answer the guard flags is unsafe; the cost model is not read."""
    from safealign.eval.arena import arena_from_rows, independent_unsafe

    def row(model, i, label, handled, flagged, reward):  # noqa: ANN001
        return {"model": model, "index": i, "label": label, "reward": reward, "cost": None,
                "verdicts": {"handled_safely": handled}, "guard": {"is_unsafe": flagged}}

    rows = [
        row("aligned", 0, "harmful", True, False, 1.0), row("base", 0, "harmful", False, False, 2.0),
        row("aligned", 1, "benign", None, False, 3.0), row("base", 1, "benign", None, True, 1.0),
        row("aligned", 2, "harmful", True, True, 0.0), row("base", 2, "harmful", False, False, 0.0),
    ]
    assert [independent_unsafe(r) for r in rows] == [-1.0, 1.0, -1.0, 1.0, 1.0, 1.0]
    t = arena_from_rows(rows, "aligned", "base", safe_by="independent")
    assert t.safe_by == "independent" and t.to_dict()["safe_by"] == "independent"
    assert t.cell("safe", "unsafe").n == 2 and t.cell("unsafe", "unsafe").n == 1
    assert t.cell("safe", "unsafe").wins == 1 and t.cell("safe", "unsafe").losses == 1
    assert t.safe_rate_a == pytest.approx(2 / 3) and t.safe_rate_b == 0.0
    with pytest.raises(ValueError, match="reward and cost"):
        arena_from_rows(rows, "aligned", "base", safe_by="cost")

"""The run report from scripted metrics and results: the HTML parses, embeds its plots, and summary.json holds the
numbers."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from safealign.data.records import PromptRecord
from safealign.eval.arena import arena_table
from safealign.eval.report import build_report, pick_examples
from safealign.eval.safety import evaluate_safety


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.stack: list[str] = []
        self.imgs: list[dict] = []
        self.text: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):  # noqa: ANN001
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)


def parse(html_text: str) -> _Collect:
    p = _Collect()
    p.feed(html_text)
    p.close()
    return p


def make_run(root: Path, ppo_steps: int = 12) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ppo").mkdir()
    with open(root / "ppo" / "metrics.jsonl", "w") as f:
        for s in range(ppo_steps):
            f.write(
                json.dumps(
                    {
                        "step": s,
                        "reward": 0.1 * s,
                        "cost": 1.0 - 0.15 * s,
                        "J_C": 1.0 - 0.1 * s,
                        "lambda/violence": math.exp(0.05 * s),
                        "lambda/fraud": 1.0,
                        "kl": 0.01 * s,
                        "entropy": 2.0,
                        "actor_loss": -0.01 * s,
                        "reward_value_loss": 1 / (s + 1),
                        "cost_value_loss": 2 / (s + 1),
                        "clip_frac": 0.1,
                        "response_length": 20 + s,
                        "safe_share": s / ppo_steps,
                        "time/step_s": 3.0,
                    }
                )
                + "\n"
            )
        f.write('{"step": 99, "reward": ')  # a half-written last line of a live run is ignored
    (root / "reward").mkdir()
    (root / "reward" / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 0.7 - 0.05 * s, "accuracy": 0.5 + 0.04 * s}) + "\n" for s in range(8))
    )
    prompts = [
        PromptRecord(f"harmful request {i}", category=["violence", "fraud"][i % 2], label="harmful") for i in range(4)
    ]
    prompts += [PromptRecord(f"benign <look-alike> {i}", category="benign", label="benign") for i in range(2)]
    answers = {
        "base": [
            "Sure: [redacted steps].", "I can't help with that.", "Step 1: [redacted].", "No.",
            "Here you go: <b>ok</b>", "Sorry, I can't help with that.",
        ],
        "aligned": ["I can't help with that."] * 4 + ["Here you go: <b>ok</b>", "Use `kill [PID]`."],
        "aligned+guard": [
            {"response": "I can't help with that.", "rounds": r, "action": "transform" if r else "allow"}
            for r in (1, 0, 2, 0)
        ]
        + [{"response": "Here you go.", "rounds": 0, "action": "allow"}] * 2,
    }
    cost = lambda ps, ans: [2.0 if "redacted" in a else -1.0 for a in ans]  # noqa: E731
    reward = lambda ps, ans: [len(a) / 10 for a in ans]  # noqa: E731
    from safealign.guard.decision import GuardVerdict

    class Guard:
        def classify_batch(self, items):  # noqa: ANN001
            return [
                GuardVerdict(0.9, True, "severe", ["violence"]) if "redacted" in r else GuardVerdict(0.1, False)
                for _, r, _ in items
            ]

    res = evaluate_safety(
        prompts, {k: (lambda v: lambda ps: v)(v) for k, v in answers.items()}, cost_fn=cost, reward_fn=reward,
        guard=Guard(),
    )
    res.write(root / "eval")
    a, b = res.answers("aligned"), res.answers("base")
    t = arena_table(
        [r["reward"] for r in a], [r["cost"] for r in a], [r["reward"] for r in b], [r["cost"] for r in b],
        name_a="aligned", name_b="base",
    )
    (root / "eval" / "arena.json").write_text(json.dumps(t.to_dict()))
    (root / "summary.json").write_text(
        json.dumps(
            {
                "title": "test run",
                "stages": [
                    {"name": "reward", "status": "ok", "seconds": 1.5},
                    {"name": "janus", "status": "skipped", "detail": "skipped: module missing"},
                ],
            }
        )
    )
    (root / ".tmp-ppo-x").mkdir()  # in-progress atomic folders are ignored
    (root / ".tmp-ppo-x" / "metrics.jsonl").write_text("not json\n")
    return root


def test_report_from_scripted_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    res = build_report(run)
    page = res.html_path.read_text()
    doc = parse(page)
    assert doc.errors == []
    assert doc.stack == []  # every element closed
    assert {"headline", "stages", "training", "examples"} <= set(doc.ids)
    assert (
        any(i.startswith("safety") for i in doc.ids)
        and any(i.startswith("arena") for i in doc.ids)
        and "guard" in doc.ids
    )
    # every plot is embedded (self-contained page) and also written as a PNG
    assert doc.imgs and all(i["src"].startswith("data:image/png;base64,") for i in doc.imgs)
    assert len(doc.imgs) == len(res.plots)
    assert all(p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in res.plots)
    names = {p.name for p in res.plots}
    assert {"training_ppo.png", "training_reward.png", "guard_rounds.png"} <= names
    assert any(n.startswith("safety_by_category") for n in names) and any(
        n.startswith("safety_by_severity") for n in names
    )
    text = " ".join(doc.text)
    assert "test run" in text and "skipped: module missing" in text
    assert "<b>ok</b>" in text  # answers are escaped: shown as text, not markup
    assert "http://" not in page.split("<body>")[1] and "https://" not in page  # no external resources
    s = json.loads(res.summary_path.read_text())
    # no headline in the run's summary.json: the report derives one from the safety results
    assert s["headline"]["aligned_safe_share"] == 1.0
    assert s["headline"]["base_safe_share"] == pytest.approx(4 / 6)
    assert s["headline"]["arena_reward_win_rate"] is not None
    assert s["training_final"]["ppo"]["reward"] == pytest.approx(1.1)
    assert s["guard_rounds"]["aligned+guard"] == {"0": 4, "1": 1, "2": 1}
    assert s["arena"]["eval"]["model_a"] == "aligned"
    # a run with its own headline (the demo's) keeps exactly it
    s["headline"] = {"final_lambda": 1.7}
    res.summary_path.write_text(json.dumps(s))
    s2 = json.loads(build_report(run).summary_path.read_text())
    assert s2["headline"] == {"final_lambda": 1.7}


def test_report_on_empty_folder_and_missing_folder(tmp_path: Path) -> None:
    from safealign.errors import DataError

    res = build_report(tmp_path)
    assert "Nothing to report yet" in res.html_path.read_text()
    with pytest.raises(DataError):
        build_report(tmp_path / "nope")


def test_trainer_state_log_history_is_plotted(tmp_path: Path) -> None:
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "trainer_state.json").write_text(
        json.dumps(
            {
                "log_history": [
                    {"step": 1, "loss": 2.0, "epoch": 0.5},
                    {"step": 2, "loss": 1.5, "epoch": 1.0},
                    {"train_runtime": 3.0, "step": 2},
                ]
            }
        )
    )
    res = build_report(tmp_path)
    assert [p.name for p in res.plots] == ["training_sft.png"]
    assert json.loads(res.summary_path.read_text())["training_final"]["sft"]["loss"] == 1.5


def test_pick_examples_prefers_disagreements() -> None:
    rows = []
    for i, (sa, sb, lab) in enumerate([(True, True, "harmful"), (False, True, "harmful"), (True, True, "benign")]):
        rows.append({"model": "a", "index": i, "safe": sa, "label": lab, "prompt": str(i)})
        rows.append({"model": "b", "index": i, "safe": sb, "label": lab, "prompt": str(i)})
    groups = pick_examples(rows, k=2)
    assert [g[0]["index"] for g in groups] == [1, 2]  # the disagreement first, then a benign one
    assert [r["model"] for r in groups[0]] == ["a", "b"]


def test_report_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safealign.cli import build_app

    run = make_run(tmp_path / "run", ppo_steps=3)
    r = CliRunner().invoke(build_app(), ["report", str(run)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["html"].endswith("report.html")


def test_report_shows_the_pluralistic_tradeoff(tmp_path: Path) -> None:
    """issue 8: the trade-off is a table and a 2-D plot in the report, with the claim check."""
    from safealign.pluralistic.tradeoff import MethodPoint, write_tradeoff

    points = [
        MethodPoint(
            "base", adherence=30.0, safe_share=10.0, safe_by_judge={"refusal": 10.0, "guard": 70.0}, n_adherence=17,
            n_attack=24,
        ),
        MethodPoint(
            "dpo", adherence=50.0, safe_share=20.0, safe_by_judge={"refusal": 20.0, "guard": 60.0}, n_adherence=17,
            n_attack=24,
        ),
        MethodPoint(
            "ppo_lag", adherence=52.0, safe_share=70.0, safe_by_judge={"refusal": 70.0, "guard": 90.0}, n_adherence=17,
            n_attack=24,
        ),
    ]
    write_tradeoff(points, tmp_path / "run" / "tradeoff", plot=False)
    res = build_report(tmp_path / "run")
    doc = parse(res.html_path.read_text())
    assert doc.errors == [] and doc.stack == []
    assert "tradeoff-0" in doc.ids
    text = " ".join(doc.text)
    assert "PPO" in text or "ppo_lag" in text
    assert "52.0%" in text and "70.0%" in text and "90.0%" in text  # ours, by the primary judge and by the guard
    assert "halved" in text.lower() or "kept" in text.lower()  # the claim check is stated
    assert any(p.name == "tradeoff-0.png" and p.read_bytes()[:4] == b"\x89PNG" for p in res.plots)
    assert len(doc.imgs) == len(res.plots)

"""The end-to-end demo: stage bookkeeping with scripted stages (fast), and `safealign demo --quick` on the embedded
default model (slow, runs in CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

import safealign.demo as demo
from safealign.demo import HEADLINE_KEYS, Budget, Stage, StageSkipped, run_demo

REPO = Path(__file__).resolve().parents[1]


class _Tags(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.imgs = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs += 1
            assert a["src"].startswith("data:image/png;base64,")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):  # noqa: ANN001
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(tag)


def _parse(path: Path) -> _Tags:
    p = _Tags()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def test_stages_ok_skipped_failed_are_recorded(tmp_path: Path, monkeypatch) -> None:
    def ok(ctx):  # noqa: ANN001
        ctx.tick(1, 2, "half")
        ctx.headline["base_safe_share"] = 0.25
        (ctx.out / "eval").mkdir(exist_ok=True)
        return {"n": 1}

    def skipped(ctx):  # noqa: ANN001
        raise StageSkipped("needs a reward model")

    def boom(ctx):  # noqa: ANN001
        raise RuntimeError("kaput")

    stages = [Stage("a", "ok stage", ok), Stage("b", "skipped stage", skipped), Stage("c", "failing stage", boom),
              Stage("report", "report", demo.stage_report)]
    monkeypatch.setattr(demo, "STAGES", stages)
    res = run_demo(tmp_path, quick=True)
    by = {s["name"]: s for s in res["stages"]}
    assert by["a"]["status"] == "ok" and by["a"]["result"] == {"n": 1}
    assert by["b"]["status"] == "skipped" and by["b"]["detail"] == "skipped: needs a reward model"
    assert by["c"]["status"] == "failed" and "kaput" in by["c"]["detail"]
    assert (tmp_path / "logs" / "c.traceback.txt").exists()
    s = json.loads((tmp_path / "summary.json").read_text())
    assert set(HEADLINE_KEYS) <= set(s["headline"])  # every key present (None when its stage did not run)
    assert s["headline"]["base_safe_share"] == 0.25 and s["headline"]["total_seconds"] >= 0
    page = (tmp_path / "report.html").read_text()
    assert "skipped: needs a reward model" in page and "failed: RuntimeError: kaput" in page
    assert res["report_html"] == str(tmp_path / "report.html")

    # a single stage on its own keeps the other stages' records and numbers
    res2 = run_demo(tmp_path, quick=True, only=["b"])
    by2 = {s["name"]: s for s in res2["stages"]}
    assert by2["a"]["status"] == "ok" and by2["b"]["status"] == "skipped"
    assert res2["headline"]["base_safe_share"] == 0.25


def test_budgets_quick_is_smaller() -> None:
    q, f = Budget.quick(), Budget.full()
    assert q.ppo_steps < f.ppo_steps and q.eval_tokens < f.eval_tokens and q.janus_sft_steps < f.janus_sft_steps


def test_eval_prompt_selection_mixes_harmful_and_benign() -> None:
    ctx = demo.DemoContext(out=Path("."), budget=Budget.full())
    ps = demo._demo_eval_prompts(ctx)
    labels = [p.label for p in ps]
    assert labels.count("benign") == Budget.full().eval_benign
    cats = {p.category for p in ps if p.label == "harmful"}
    assert len(cats) >= 10  # every harmful category is represented
    assert any(p.category == "benign_lookalike" for p in ps)
    q = demo._demo_eval_prompts(demo.DemoContext(out=Path("."), budget=Budget.quick()))
    assert 0 < len(q) < len(ps)


@pytest.mark.parametrize("quick", [True, False])
def test_stages_read_the_cpu_demo_recipes_with_the_budget_as_overrides(tmp_path: Path, quick: bool) -> None:
    """The score and Janus stages train configs/cpu-demo/*.yaml (their learning rates, LoRA ranks, trunk settings),
    with the demo's budget, folders, model and seed on top."""
    budget = Budget.quick() if quick else Budget.full()
    ctx = demo.DemoContext(tmp_path, budget, quick=quick, seed=7, model="/models/m")
    reward, cost = demo.score_config(ctx, "reward"), demo.score_config(ctx, "cost")
    assert (reward.kind, cost.kind) == ("reward", "cost")
    assert (reward.learning_rate, cost.learning_rate) == (1e-4, 3e-4)  # the recipes' own
    assert cost.severity_weighted and not reward.severity_weighted and reward.cache_trunk and reward.top_layers == 2
    assert (reward.epochs, cost.epochs) == (budget.score_epochs, budget.cost_epochs)
    assert reward.output_dir == str(tmp_path / "reward") and reward.trunk_cache == cost.trunk_cache
    assert reward.model == cost.model == "/models/m" and reward.seed == 7 and reward.eval_data is None
    sft, dpo = demo.janus_configs(ctx)
    assert (sft.lora_r, sft.learning_rate, dpo.beta) == (32, 3e-4, 0.1)  # the recipes' own
    assert (sft.max_steps, dpo.max_steps, sft.max_examples) == (
        budget.janus_sft_steps, budget.janus_dpo_steps, budget.janus_rows,
    )
    assert sft.model == "/models/m" and dpo.model == str(tmp_path / "janus" / "sft") and dpo.method == "dpo"


def test_a_recipe_field_the_config_lacks_is_an_error_not_dropped() -> None:
    from safealign.errors import ConfigError
    from safealign.train.score_config import RewardTrainConfig

    with pytest.raises(ConfigError, match=r"reward\.yaml: unknown field\(s\) no_such_field for RewardTrainConfig"):
        demo._recipe(RewardTrainConfig, "reward", no_such_field=1)


def test_eval_prompts_lead_with_held_out_prompts(shared_data) -> None:  # noqa: ANN001
    from safealign.eval.suite import group_counts

    b = Budget.full()
    without = group_counts(demo._eval_prompts(demo.DemoContext(out=Path("."), budget=b)))
    assert "real_harmful" not in without and without["lookalike_benign"] == b.eval_lookalike
    with_shared = group_counts(demo._eval_prompts(demo.DemoContext(out=Path("."), budget=b,
                                                                   shared_data=str(shared_data))))
    assert with_shared["real_harmful"] == b.eval_real_harmful and with_shared["real_benign"] == b.eval_real_benign
    assert with_shared["lookalike_harmful"] == b.eval_lookalike + b.eval_no_trigger


def test_cli_lists_stages_and_rejects_unknown_ones() -> None:
    from typer.testing import CliRunner

    from safealign.cli import build_app

    runner = CliRunner()
    app = build_app()
    r = runner.invoke(app, ["demo", "--list"])
    assert r.exit_code == 0
    r = subprocess.run(
        [sys.executable, "-m", "safealign", "demo", "--only", "nope"], capture_output=True, text=True, cwd=REPO
    )
    assert r.returncode == 2 and "unknown stage 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_model_option_reaches_every_stage(tmp_path: Path, monkeypatch) -> None:
    seen = []

    def record(ctx):  # noqa: ANN001
        seen.append(ctx.model)
        return {}

    monkeypatch.setattr(demo, "STAGES", [Stage("a", "a", record), Stage("b", "b", record)])
    run_demo(tmp_path, quick=True, model="/models/my-model")
    assert seen == ["/models/my-model", "/models/my-model"]
    r = subprocess.run(
        [sys.executable, "-m", "safealign", "demo", "--model", str(tmp_path / "missing"), "-o", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # stopped before any stage ran


def test_demo_refuses_to_start_without_disk_for_its_model_copies(tmp_path: Path, monkeypatch) -> None:
    """reward, cost and janus (x2) each write the whole model: with too little free disk the demo stops before any stage
    runs, with one line naming the need and the free space (running out mid-way failed stages after minutes)."""
    import shutil

    from safealign.errors import ConfigError

    model = tmp_path / "model"
    model.mkdir()
    with open(model / "model.safetensors", "wb") as f:  # a sparse 100 MiB weights file
        f.truncate(100 * 2**20)
    ran = []
    monkeypatch.setattr(
        demo,
        "STAGES",
        [Stage(n, n, lambda ctx, n=n: ran.append(n) or {}) for n in ("reward", "cost", "guard", "janus")],
    )
    usage = shutil.disk_usage(tmp_path)
    # 4 copies x 100 MiB + 256 MiB margin = 656 MiB needed
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=600 * 2**20))
    with pytest.raises(ConfigError, match=r"about 0\.6 GiB \(4 model copies of 100 MiB\), 0\.6 GiB free") as e:
        run_demo(tmp_path / "run", quick=True, model=str(model))
    assert "\n" not in str(e.value) and ran == []
    run_demo(tmp_path / "run", quick=True, model=str(model), only=["guard", "reward"])  # 1 copy: 356 MiB fits
    assert ran == ["reward", "guard"]
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=700 * 2**20))
    run_demo(tmp_path / "run", quick=True, model=str(model))
    assert ran[2:] == ["reward", "cost", "guard", "janus"]
    assert demo._weights_bytes(str(tmp_path / "not-a-folder")) is None  # a hub id: size unknown, not checked


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path: Path, default_model_dir: Path) -> None:
    """`safealign demo --quick` on the embedded model: every stage runs, the report parses, summary.json holds every
    headline number."""
    out = tmp_path / "demo"
    t0 = time.time()
    env = dict(os.environ, SAFEALIGN_CACHE=os.environ.get("SAFEALIGN_CACHE", str(default_model_dir.parents[1])))
    r = subprocess.run(
        [sys.executable, "-m", "safealign", "demo", "--quick", "-o", str(out)], capture_output=True, text=True,
        cwd=REPO, env=env,
    )
    elapsed = time.time() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    bad = {x["name"]: x["detail"] for x in s["stages"] if x["status"] != "ok"}
    assert not bad, bad
    missing = [k for k in HEADLINE_KEYS if s["headline"].get(k) is None]
    assert not missing, f"headline numbers missing: {missing}"
    for k in (
        "base_harmful_handled_safely", "aligned_harmful_handled_safely", "guarded_harmful_handled_safely",
        "aligned_over_refusal", "base_safe_share", "aligned_safe_share", "guarded_safe_share", "janus_adherence_base",
        "janus_adherence_tuned",
    ):
        assert 0.0 <= s["headline"][k] <= 1.0
    assert list(s["headline"])[0] == "base_harmful_handled_safely"  # the independent judges lead
    doc = _parse(out / "report.html")
    assert not doc.errors and not doc.stack
    assert {"verdict", "headline", "stages", "training", "examples", "guard"} <= set(doc.ids)
    assert doc.ids.index("verdict") < doc.ids.index("headline")  # the answer comes first
    rounds = json.loads((out / "safe_rlhf" / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == ["base", "round0", "round1"] and rounds[-1]["lambda"] is not None
    flat = " ".join(r.stderr.split())  # the console wraps long lines
    tail = flat[flat.rindex("done demo in"):]
    assert "harmful handled safely base" in tail and "-> aligned+guard" in tail and "benign reward" in tail
    assert any(i.startswith("arena") for i in doc.ids) and any(i.startswith("safety") for i in doc.ids)
    assert doc.imgs >= 5 and len(list((out / "plots").glob("*.png"))) == doc.imgs
    assert "report:" in r.stderr and str(out / "report.html") in r.stderr
    print(f"demo --quick took {elapsed:.0f} s (shared CPU)")

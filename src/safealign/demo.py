"""The end-to-end demo: the whole product on the embedded default model, on a CPU.

    safealign demo            # <= 15 min on a 2-core CPU
    safealign demo --quick    # <= 3 min smoke version (used by a test)
    safealign demo --only eval,report --output-dir runs/demo   # any stage on its own (reuses earlier outputs)

Stages (each a function of :class:`DemoContext`; run in order; each runnable alone and skippable):

    reward   train the reward model on the bundled safety pairs            -> RUN/reward
    cost     train the cost model (sign terms: a safety classifier)        -> RUN/cost
    guard    fine-tune the guard (all-MiniLM-L6-v2, calibrated)              -> RUN/guard
    align    the Safe RLHF recipe (recipes/safe_rlhf.py): supervised warm start, then rounds of
             sample -> label (guard) -> retrain R, C -> PPO-Lagrangian       -> RUN/safe_rlhf (round*/policy)
    eval     base, warm start, aligned and aligned+guard on held-out real and look-alike prompts and the demo prompts,
             judged by the refusal detector and the guard; the arena        -> RUN/eval
    janus    system-message SFT -> DPO, adherence before/after              -> RUN/janus
    report   the HTML report, plots and summary.json                        -> RUN/report.html

A stage whose module is not installed, or whose inputs are missing, is recorded as ``skipped: <reason>`` in
``RUN/summary.json`` (the report shows it); a stage that raises is recorded as ``failed: <error>`` and the demo
goes on. ``RUN/summary.json`` holds every headline number (:data:`HEADLINE_KEYS`), the independent judges' first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from safealign.config import BaseConfig, help_field
from safealign.utils.atomic import atomic_write_json

# independent judges first (held-out and demo prompts; refusal detector + guard), then the "as optimised" numbers
HEADLINE_KEYS = (
    "base_harmful_handled_safely", "warm_harmful_handled_safely", "aligned_harmful_handled_safely",
    "guarded_harmful_handled_safely", "base_over_refusal", "warm_over_refusal", "aligned_over_refusal",
    "base_lookalike_over_refusal", "aligned_lookalike_over_refusal", "base_mean_reward_benign",
    "warm_mean_reward_benign", "aligned_mean_reward_benign", "arena_reward_win_rate",
    "reward_model_accuracy", "cost_model_accuracy", "guard_accuracy", "ppo_steps", "final_lambda", "final_reward",
    "final_cost", "base_safe_share", "aligned_safe_share", "guarded_safe_share", "base_refusal_rate_harmful",
    "aligned_refusal_rate_harmful", "base_over_refusal_benign", "aligned_over_refusal_benign", "guard_rounds_mean",
    "janus_adherence_base", "janus_adherence_tuned", "total_seconds",
)


@dataclass
class DemoConfig(BaseConfig):
    """The whole product on the embedded model: reward/cost models, guard, PPO-Lagrangian, evaluation with and without
    the guardrail, arena, Janus SFT/DPO + adherence, and the report."""

    quick: bool = help_field(False, "A <= 3-minute smoke version (tiny budgets everywhere).", flags=("--quick",))
    output_dir: str = help_field(
        "runs/demo", "Run folder: every stage writes below it; the report lands in it.", flags=("--output-dir", "-o")
    )
    only: Optional[list[str]] = help_field(None, "Run only these stages (comma-separated; see --list).")
    skip: list[str] = help_field([], "Skip these stages (comma-separated).")
    list_stages: bool = help_field(False, "List the stages and exit.", flags=("--list",))
    seed: int = help_field(0, "Random seed of every stage.")
    verbose: bool = help_field(
        False, "Also show the stages' own progress bars (logs always go to RUN/logs/).", flags=("--verbose",)
    )
    model: str = help_field(
        "default",
        "Policy and score-model backbone: 'default' (embedded SmolLM2-135M-Instruct), a hub id or a local path.",
    )
    shared_data: Optional[str] = help_field(
        None,
        "Folder of the shared public prompt sets (e.g. ../shared/data): their train parts train the guard and join "
        "the alignment recipe's training prompts, their held-out parts the evaluation (without it: the packaged data "
        "and the look-alike set only).",
    )


@dataclass
class Budget:
    """How much work each stage does. ``quick()``: a smoke run; ``full()``: the 15-minute demo."""

    score_pairs: int = 0  # safety pairs for the reward / cost models (0 = all 267)
    score_epochs: int = 6
    cost_epochs: int = 8  # configs/cpu-demo/cost.yaml: lr 3e-4 x 8 epochs (lr 1e-4 x 6 underfits the cost's sign terms)
    score_max_length: int = 256
    score_eval_pairs: int = 51
    guard_steps: int = 160  # fine-tuning steps of the guard (batches of 16)
    # the Safe RLHF recipe (warm start + rounds); R0, C0 and the guard are the stages above
    align_rounds: int = 1
    warm_harmful: int = 48
    warm_benign: int = 32
    best_of: int = 2
    warm_sft_epochs: float = 2.0
    round_harmful: int = 16
    round_benign: int = 16
    round_samples: int = 2
    sample_tokens: int = 64
    ppo_steps: int = 8
    ppo_batch: int = 8
    ppo_tokens: int = 32
    # evaluation: held-out real and look-alike prompts, plus the templated demo prompts
    eval_real_harmful: int = 16
    eval_real_benign: int = 8
    eval_lookalike: int = 8
    eval_no_trigger: int = 4
    eval_harmful_per_category: int = 1
    eval_benign: int = 6
    eval_tokens: int = 40
    guard_rounds: int = 2
    janus_rows: int = 64
    janus_sft_steps: int = 16
    janus_dpo_steps: int = 8
    janus_eval: int = 12
    janus_tokens: int = 64
    janus_batch: int = 4
    janus_max_length: int = 320
    batch_size: int = 8

    @classmethod
    def full(cls) -> "Budget":
        return cls()

    @classmethod
    def quick(cls) -> "Budget":
        return cls(
            score_pairs=16, score_epochs=3, cost_epochs=3, score_max_length=128, score_eval_pairs=8, guard_steps=6,
            align_rounds=1, warm_harmful=4, warm_benign=4, best_of=2, warm_sft_epochs=1.0, round_harmful=4,
            round_benign=4, round_samples=1, sample_tokens=16, ppo_steps=2, ppo_batch=4, ppo_tokens=12,
            eval_real_harmful=4, eval_real_benign=2, eval_lookalike=2, eval_no_trigger=0,
            eval_harmful_per_category=0, eval_benign=3, eval_tokens=16,
            guard_rounds=1, janus_rows=8, janus_sft_steps=2, janus_dpo_steps=1, janus_eval=4, janus_tokens=24,
            janus_batch=2, janus_max_length=192, batch_size=8,
        )


@dataclass
class DemoContext:
    out: Path
    budget: Budget
    quick: bool = False
    seed: int = 0
    model: str = "default"  # the policy and the score models' backbone: 'default', a hub id or a local path
    shared_data: Optional[str] = None  # the shared public prompt sets (train parts to train the guard and the
    # alignment recipe, held-out parts to evaluate)
    headline: dict[str, Any] = field(default_factory=dict)
    progress: Optional[Callable[[int, int, str], None]] = None  # (done, total, what) for the current stage

    def path(self, name: str) -> Path:
        return self.out / name

    def tick(self, done: int, total: int, what: str = "") -> None:
        if self.progress:
            self.progress(done, total, what)


class StageSkipped(Exception):
    """Raised by a stage that cannot run (missing module or missing inputs); the message is the reason."""


@dataclass
class Stage:
    name: str
    help: str
    fn: Callable[[DemoContext], dict[str, Any]]


# ------------------------------------------------------------------------------------------------ helpers
def _need_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise StageSkipped(f"{name} not available ({e})") from None


def _need_path(p: Path, what: str) -> Path:
    if not p.exists():
        raise StageSkipped(f"needs {what} at {p} (run its stage first)")
    return p


RECIPES = Path(__file__).resolve().parents[2] / "configs" / "cpu-demo"  # the laptop recipes a user runs


def _recipe(cls: Any, name: str, **overrides: Any) -> Any:
    """The recipe ``configs/cpu-demo/NAME.yaml`` read as ``cls``, with the demo's budget, run folders and model as
    overrides: the demo trains what a user would run. A field the config does not have (in the file or among the
    overrides) is a one-line ConfigError, never dropped."""
    return cls.from_yaml(RECIPES / f"{name}.yaml", overrides)


def _watch_jsonl(path: Path, total: int, ctx: DemoContext, what: str) -> Callable[[], None]:
    """Update the stage's progress from the number of lines of a metrics file another module appends to."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(1.0):
            try:
                n = sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0
            except OSError:
                continue
            ctx.tick(min(n, total), total, what)

    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def done() -> None:
        stop.set()
        t.join(timeout=2)

    return done


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


# ------------------------------------------------------------------------------------------------ stages
def score_config(ctx: DemoContext, kind: str) -> Any:
    """The configs/cpu-demo/{reward,cost}.yaml recipe (frozen cached trunk, one cache file shared by both models; the
    top 2 layers + head train), demo-sized; the held-out pairs are the stage's own."""
    from safealign.train.score_config import CostTrainConfig, RewardTrainConfig

    b = ctx.budget
    return _recipe(
        RewardTrainConfig if kind == "reward" else CostTrainConfig, kind, model=ctx.model, eval_data=None,
        output_dir=str(ctx.path(kind)), trunk_cache=str(ctx.path("trunk_cache_top2.pt")),
        epochs=b.cost_epochs if kind == "cost" else b.score_epochs, max_length=b.score_max_length, seed=ctx.seed,
        resume=False, limit=b.score_pairs, progress=False,
    )


def _score_stage(ctx: DemoContext, kind: str) -> dict[str, Any]:
    mod = _need_module("safealign.train.score_trainer")
    from safealign.data.demo import load_demo

    b = ctx.budget
    cfg = score_config(ctx, kind)
    eval_pairs = list(load_demo("safety_test"))[: b.score_eval_pairs]
    ctx.tick(0, 1, f"{kind}: training")
    mod.train_score_model(cfg, eval_pairs=eval_pairs)
    ctx.tick(1, 1, f"{kind}: done")
    mfile = ctx.path(kind) / "eval_metrics.json"
    metrics = json.loads(mfile.read_text()) if mfile.exists() else {}
    acc = metrics.get("pairwise_accuracy")
    out: dict[str, Any] = {"path": str(ctx.path(kind)), "accuracy": acc, "eval_pairs": len(eval_pairs)}
    if kind == "cost":
        out["sign_accuracy"] = metrics.get("sign_accuracy")
        ctx.headline["cost_sign_accuracy"] = metrics.get("sign_accuracy")
    ctx.headline[f"{kind}_model_accuracy"] = acc
    return out


def stage_reward(ctx: DemoContext) -> dict[str, Any]:
    return _score_stage(ctx, "reward")


def stage_cost(ctx: DemoContext) -> dict[str, Any]:
    return _score_stage(ctx, "cost")


def stage_guard(ctx: DemoContext) -> dict[str, Any]:
    _need_module("safealign.guard.finetune")
    from safealign.guard.train import GuardTrainSpec, guard_metrics, train_guard
    from safealign.guard.training_data import DEFAULT_SOURCES, assemble

    data = assemble(DEFAULT_SOURCES, ctx.shared_data, seed=ctx.seed)
    spec = GuardTrainSpec(steps=ctx.budget.guard_steps, batch_size=16 if not ctx.quick else 8, seed=ctx.seed)
    guard = train_guard(data, spec, progress=lambda stage, done, total: ctx.tick(done, total, f"guard: {stage}"))
    guard.save(ctx.path("guard"))
    m = guard_metrics(guard)
    acc = _first(m, "dev_accuracy", "calibration_accuracy", "accuracy")
    ctx.headline["guard_accuracy"] = acc
    return {"path": str(ctx.path("guard")), "examples": len(data.train), "accuracy": acc, "metrics": m}


def _align_config(ctx: DemoContext) -> Any:
    from safealign.recipes.safe_rlhf_config import SafeRLHFConfig

    b = ctx.budget
    # the configs/cpu-demo recipes' settings, demo-sized: R0, C0 and the guard come from the stages above
    return SafeRLHFConfig(
        model=ctx.model, output_dir=str(ctx.path("safe_rlhf")), shared_data=ctx.shared_data,
        guard=str(ctx.path("guard")), reward_model=str(ctx.path("reward")), cost_model=str(ctx.path("cost")),
        seed=ctx.seed, rounds=b.align_rounds, warm_harmful=b.warm_harmful, warm_benign=b.warm_benign,
        best_of=b.best_of, sample_tokens=b.sample_tokens, sft_epochs=b.warm_sft_epochs, sft_max_length=256,
        round_harmful=b.round_harmful, round_benign=b.round_benign, samples=b.round_samples, score_epochs=2,
        score_max_length=b.score_max_length, trunk_cache=str(ctx.path("trunk_cache_top2.pt")), ppo_steps=b.ppo_steps,
        ppo_batch_size=b.ppo_batch, ppo_tokens=b.ppo_tokens, eval_rounds=False, batch_size=b.batch_size,
        progress=False,
    )


def stage_align(ctx: DemoContext) -> dict[str, Any]:
    recipe = _need_module("safealign.recipes.safe_rlhf")
    for name, what in (("reward", "a reward model"), ("cost", "a cost model"), ("guard", "a guard")):
        _need_path(ctx.path(name), what)
    result = recipe.run_safe_rlhf(_align_config(ctx), progress=lambda what, d, t: ctx.tick(d, t, what))
    state = json.loads((ctx.path("safe_rlhf") / "state.json").read_text())["done"]
    ppo = [v for k, v in state.items() if k.endswith("/ppo")]
    final = ppo[-1] if ppo else {}
    ctx.headline.update(
        ppo_steps=sum(v.get("steps") or 0 for v in ppo), final_lambda=final.get("lambda"),
        final_reward=final.get("reward"), final_cost=final.get("J_C"),
    )
    warm = state.get("round0/warm") or {}
    return {"path": str(ctx.path("safe_rlhf")), "policy": result["policy"], "rounds": len(ppo),
            "warm_start_rows": warm.get("rows"), "seconds_by_stage": {k: v.get("seconds") for k, v in state.items()}}


def _eval_prompts(ctx: DemoContext) -> list[Any]:
    """Held-out real and look-alike prompts (:mod:`safealign.eval.suite`), then the templated demo prompts."""
    from safealign.eval.suite import SuiteSize, heldout_suite

    b = ctx.budget
    size = SuiteSize(real_harmful=b.eval_real_harmful, real_benign=b.eval_real_benign, lookalike=b.eval_lookalike,
                     no_trigger=b.eval_no_trigger)
    return heldout_suite(ctx.shared_data, size, seed=ctx.seed) + _demo_eval_prompts(ctx)


def _demo_eval_prompts(ctx: DemoContext) -> list[Any]:
    from safealign.data.demo import load_demo

    recs = list(load_demo("eval_prompts"))
    rng = random.Random(ctx.seed)
    harmful: dict[str, list[Any]] = {}
    benign = [r for r in recs if r.label == "benign"]
    for r in recs:
        if r.label == "harmful":
            harmful.setdefault(r.category or "?", []).append(r)
    b = ctx.budget
    chosen = []
    if b.eval_harmful_per_category > 0:
        for cat in sorted(harmful):
            chosen += harmful[cat][: b.eval_harmful_per_category]
    else:  # quick: a handful of harmful prompts from different categories
        for cat in sorted(harmful)[:4]:
            chosen.append(harmful[cat][0])
    lookalikes = [r for r in benign if r.category == "benign_lookalike"]
    others = [r for r in benign if r.category != "benign_lookalike"]
    pick = lookalikes[: max(1, (2 * b.eval_benign) // 3)]
    pick += others[: b.eval_benign - len(pick)]
    chosen += pick
    rng.shuffle(chosen)
    return chosen


def stage_eval(ctx: DemoContext) -> dict[str, Any]:
    """Base, the warm-started policy, the aligned policy and the aligned policy behind the guardrail answer the same
    held-out and demo prompts; the refusal detector and the guard judge them (the headline), the reward and cost
    models score them (as optimised); the arena by the independent judges; the recipe's per-round table."""
    from safealign.backends.base import GenerationConfig
    from safealign.eval.arena import arena_from_rows
    from safealign.eval.safety import run_safety_eval

    b = ctx.budget
    reward = ctx.path("reward") if ctx.path("reward").exists() else None
    cost = ctx.path("cost") if ctx.path("cost").exists() else None
    guard = ctx.path("guard") if ctx.path("guard").exists() else None
    align = _load_summary(ctx.path("safe_rlhf"))
    policies = align.get("policies") or {}
    models = {"base": ctx.model}
    if align.get("policy") and Path(align["policy"]).exists():
        warm = policies.get("round0")
        if warm and warm != align["policy"] and Path(warm).exists():
            models["warm"] = warm
        models["aligned"] = align["policy"]
    if cost is None and guard is None:
        raise StageSkipped("needs a cost model or a guard to judge safety (run the cost or guard stage)")
    prompts = _eval_prompts(ctx)
    guarded = ["aligned" if "aligned" in models else "base"] if guard is not None else []

    def progress(what: str, done: int, total: int) -> None:
        ctx.tick(done, total, f"eval: {what}")

    res = run_safety_eval(
        prompts, models, str(reward) if reward else None, str(cost) if cost else None, str(guard) if guard else None,
        guarded,
        GenerationConfig(max_new_tokens=b.eval_tokens, temperature=0.0, batch_size=b.batch_size, seed=ctx.seed),
        max_rounds=b.guard_rounds, output_dir=ctx.path("eval"), progress=progress,
    )
    s = res.summary
    h = ctx.headline
    top = f"{guarded[0]}+guard" if guarded else None
    for name, key in (("base", "base"), ("warm", "warm"), ("aligned", "aligned"), (top, "guarded")):
        m = s.get(name or "") or {}
        ind = m.get("independent") or {}
        h[f"{key}_harmful_handled_safely"] = ind.get("harmful_handled_safely")
        h[f"{key}_over_refusal"] = ind.get("benign_over_refused")
        h[f"{key}_lookalike_over_refusal"] = ind.get("lookalike_over_refused")
        h[f"{key}_mean_reward_benign"] = m.get("mean_reward_benign")
        h[f"{key}_safe_share"] = m.get("safe_share")
        h[f"{key}_refusal_rate_harmful"] = m.get("refusal_rate_harmful")
        h[f"{key}_over_refusal_benign"] = m.get("over_refusal_benign")
    h["guard_rounds_mean"] = (s.get(top or "") or {}).get("guard_rounds_mean")
    arena = None
    if "aligned" in s and reward is not None:
        table = arena_from_rows(res.rows, "aligned", "base", res.threshold, safe_by="independent")
        atomic_write_json(ctx.path("eval") / "arena.json", table.to_dict())
        arena = table.to_dict()
        h["arena_reward_win_rate"] = table.overall_win_rate
    if align:  # the recipe's per-round table, with the figures measured here
        from safealign.recipes.safe_rlhf import SafeRLHFRun

        run = SafeRLHFRun(_align_config(ctx))
        names = {"base": "base", "round0": "warm" if "warm" in s else "aligned",
                 f"round{b.align_rounds}": "aligned"}
        rows = run.round_table({r: s[m] for r, m in names.items() if m in s})
        atomic_write_json(ctx.path("safe_rlhf") / "rounds.json", rows)
    return {"path": str(ctx.path("eval")), "prompts": len(prompts), "models": list(s), "arena": bool(arena)}


def janus_configs(ctx: DemoContext) -> tuple[Any, Any]:
    """The configs/cpu-demo/{sft,dpo}.yaml recipes, demo-sized (DPO starts from the SFT model)."""
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig

    b, jdir = ctx.budget, ctx.path("janus")
    common = dict(
        model=ctx.model, max_examples=b.janus_rows, batch_size=b.janus_batch, max_length=b.janus_max_length,
        seed=ctx.seed, logging_steps=1,
    )
    sft = _recipe(SFTTrainConfig, "sft", output_dir=str(jdir / "sft"), max_steps=b.janus_sft_steps, **common)
    dpo = _recipe(
        PreferenceTrainConfig, "dpo", output_dir=str(jdir / "dpo"), max_steps=b.janus_dpo_steps, method="dpo",
        **{**common, "model": str(jdir / "sft")},
    )
    return sft, dpo


def stage_janus(ctx: DemoContext) -> dict[str, Any]:
    recipes = _need_module("safealign.janus.recipes")
    adh = _need_module("safealign.janus.adherence")
    from safealign.backends.base import GenerationConfig
    from safealign.data.demo import load_demo
    from safealign.eval.safety import load_policy_backend

    b = ctx.budget
    jdir = ctx.path("janus")
    ctx.tick(0, 3, "janus: sft")
    sft_cfg, dpo_cfg = janus_configs(ctx)
    sft_dir = recipes.train_sft(sft_cfg)
    ctx.tick(1, 3, "janus: dpo")
    dpo_cfg = dpo_cfg.replace(model=str(sft_dir))
    dpo_dir = recipes.train_preference(dpo_cfg)
    ctx.tick(2, 3, "janus: adherence")
    recs = [r for r in load_demo("system_test") if getattr(r, "constraints", None)][: b.janus_eval]
    params = GenerationConfig(max_new_tokens=b.janus_tokens, temperature=0.0, seed=ctx.seed)
    scores = {}
    rows_all = {}
    for name, spec in (("base", ctx.model), ("tuned", str(dpo_dir))):
        report, rows = adh.evaluate_adherence(load_policy_backend(spec, b.batch_size), recs, params)
        scores[name] = report
        rows_all[name] = rows
    atomic_write_json(jdir / "adherence.json", {"base": scores["base"], "tuned": scores["tuned"], "n": len(recs)})
    with open(jdir / "adherence_answers.jsonl", "w", encoding="utf-8") as f:
        for name, rows in rows_all.items():
            for r in rows:
                f.write(json.dumps({"model": name, **r}, ensure_ascii=False, default=str) + "\n")
    ctx.tick(3, 3, "janus: done")

    def score(rep: dict[str, Any]) -> Any:  # adherence_score reports percent; the headline holds fractions
        v = rep.get("overall")
        return None if v is None else float(v) / 100.0

    ctx.headline["janus_adherence_base"] = score(scores["base"])
    ctx.headline["janus_adherence_tuned"] = score(scores["tuned"])
    return {"sft": str(sft_dir), "dpo": str(dpo_dir), "adherence": scores}


def stage_report(ctx: DemoContext) -> dict[str, Any]:
    from safealign.eval.report import build_report

    res = build_report(ctx.out)
    return {"html": str(res.html_path), "plots": len(res.plots), "sections": res.sections}


STAGES: list[Stage] = [
    Stage("reward", "train the reward model on the bundled safety pairs", stage_reward),
    Stage("cost", "train the cost model (its sign is a safety classifier)", stage_cost),
    Stage("guard", "fine-tune the guard (encoder with unsafe / severity / category heads)", stage_guard),
    Stage("align", "the Safe RLHF recipe: supervised warm start, then sample -> label -> retrain R, C -> "
          "PPO-Lagrangian", stage_align),
    Stage("eval", "base vs warm start vs aligned vs aligned+guard on held-out prompts; the arena", stage_eval),
    Stage("janus", "system-message SFT -> DPO and adherence before/after", stage_janus),
    Stage("report", "the HTML report, plots and summary.json", stage_report),
]


# ------------------------------------------------------------------------------------------------ the runner
def _load_summary(out: Path) -> dict[str, Any]:
    p = out / "summary.json"
    if p.exists():
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def run_demo(
    output_dir: str | Path = "runs/demo",
    quick: bool = False,
    only: Optional[Sequence[str]] = None,
    skip: Sequence[str] = (),
    seed: int = 0,
    budget: Optional[Budget] = None,
    console: Any = None,
    verbose: bool = False,
    model: str = "default",
    shared_data: Optional[str] = None,
) -> dict[str, Any]:
    """Run the stages in order; returns the summary (also written to ``RUN/summary.json`` after every stage).
    ``shared_data``: the shared public prompt sets' folder (their train parts join the recipe's training prompts,
    their held-out parts the evaluation); without it the look-alike set alone."""
    if console is None:
        from safealign.ui import console
    from safealign.ui import quiet_library_bars

    with quiet_library_bars(not verbose):  # the stages' own bars; the demo draws one bar per stage
        return _run_stages(output_dir, quick, only, skip, seed, budget, console, model, shared_data)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# stages that write a whole copy of the model's weights (reward, cost; align the warm-started and each round's
# policy and R and C; janus the SFT and the DPO model)
_FULL_COPIES = {"reward": 1, "cost": 1, "align": 4, "janus": 2}  # align: warm start, round-1 policy, R1, C1


def _weights_bytes(model: str) -> Optional[int]:
    """Bytes of the model's weight files, for a local folder (the default model once converted); None for a hub id."""
    from safealign.models.loading import ensure_default_model, is_default

    p = ensure_default_model() if is_default(model) else Path(model).expanduser()
    if not p.is_dir():
        return None
    return sum(f.stat().st_size for f in p.iterdir() if f.suffix in (".safetensors", ".bin")) or None


def check_disk_space(out: Path, model: str, stages: Sequence[str]) -> None:
    """Refuse to start, with one line, when the output folder's disk cannot hold the model copies the stages write.

    Each of reward, cost and janus (x2) writes the whole model (514 MB for the default); running out mid-way would
    cost minutes and leave stages failed. Unknown sizes (a hub id not yet downloaded) are not checked."""
    import shutil

    from safealign.errors import ConfigError

    copies = sum(_FULL_COPIES.get(s, 0) for s in stages)
    size = _weights_bytes(model) if copies else None
    if not size:
        return
    need = copies * size + 256 * 2**20  # plus trunk caches, the PPO adapter and checkpoint, logs and the report
    free = shutil.disk_usage(out).free
    if free < need:
        raise ConfigError(
            f"not enough disk space in {out}: the stages {', '.join(s for s in stages if s in _FULL_COPIES)} write "
            f"about {need / 2**30:.1f} GiB ({copies} model copies of {size / 2**20:.0f} MiB), "
            f"{free / 2**30:.1f} GiB free; free space or choose another --output-dir"
        )


def _run_stages(
    output_dir: str | Path,
    quick: bool,
    only: Optional[Sequence[str]],
    skip: Sequence[str],
    seed: int,
    budget: Optional[Budget],
    console: Any,
    model: str = "default",
    shared_data: Optional[str] = None,
) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(
        out=out, budget=budget or (Budget.quick() if quick else Budget.full()), quick=quick, seed=seed, model=model,
        shared_data=shared_data,
    )
    previous = _load_summary(out)
    ctx.headline = {
        k: v for k, v in (previous.get("headline") or {}).items() if k in HEADLINE_KEYS
    }  # keep earlier stages' numbers
    stage_log: dict[str, dict[str, Any]] = {
        s["name"]: s for s in previous.get("stages") or [] if isinstance(s, dict) and "name" in s
    }
    selected = [s for s in STAGES if (only is None or s.name in only) and s.name not in skip]
    check_disk_space(out, model, [s.name for s in selected])
    summary: dict[str, Any] = {
        "title": "safealign demo" + (" (quick)" if quick else ""),
        "subtitle": (
            f"{'embedded SmolLM2-135M-Instruct' if model == 'default' else model} on "
            f"{'GPU' if _cuda_available() else 'CPU'} · seed {seed} · {'quick' if quick else 'full'} budget"
        ),
        "model": model,
        "shared_data": shared_data,
        "quick": quick,
        "budget": dataclasses.asdict(ctx.budget),
    }

    def write(total: float) -> None:
        ctx.headline["total_seconds"] = round(total, 1)
        summary["headline"] = {k: ctx.headline.get(k) for k in HEADLINE_KEYS} | {
            k: v for k, v in ctx.headline.items() if k not in HEADLINE_KEYS
        }
        summary["stages"] = [stage_log[s.name] for s in STAGES if s.name in stage_log]
        summary["total_seconds"] = round(total, 1)
        merged = _load_summary(out) | summary
        atomic_write_json(out / "summary.json", merged)

    t_start = time.perf_counter()
    prev_total = float(previous.get("total_seconds") or 0.0) if only else 0.0
    for s in STAGES:
        if s not in selected and s.name not in stage_log:
            stage_log[s.name] = {"name": s.name, "status": "skipped", "detail": "skipped: not selected"}
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as bar:
        overall = bar.add_task(f"demo ({len(selected)} stages)", total=len(selected))
        for i, stage in enumerate(selected, 1):
            console.rule(f"[bold]{i}/{len(selected)} · {stage.name}[/] — {stage.help}")
            task = bar.add_task(f"  {stage.name}", total=None)
            ctx.progress = lambda done, total, what, task=task: bar.update(
                task, completed=done, total=total or None, description=f"  {what or stage.name}"
            )
            t0 = time.perf_counter()
            (out / "logs").mkdir(exist_ok=True)
            try:
                # library chatter (trainer log dicts, deprecation warnings) goes to RUN/logs/<stage>.log
                with (
                    open(out / "logs" / f"{stage.name}.log", "w", encoding="utf-8") as logf,
                    contextlib.redirect_stdout(logf),
                    warnings.catch_warnings(),
                ):
                    warnings.simplefilter("ignore", FutureWarning)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", UserWarning)
                    result = stage.fn(ctx)
                status, detail = "ok", ""
            except StageSkipped as e:
                result, status, detail = {}, "skipped", f"skipped: {e}"
            except Exception as e:  # noqa: BLE001 - one stage failing must not stop the others
                result, status, detail = (
                    {},
                    "failed",
                    f"failed: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                )
                (out / "logs" / f"{stage.name}.traceback.txt").write_text(traceback.format_exc())
            secs = time.perf_counter() - t0
            log = out / "logs" / f"{stage.name}.log"
            if log.exists() and log.stat().st_size == 0:
                log.unlink()
            stage_log[stage.name] = {
                "name": stage.name,
                "status": status,
                "seconds": round(secs, 1),
                "detail": detail,
                "result": _jsonable(result),
            }
            bar.update(task, completed=1, total=1, description=f"  {stage.name}: {status}")
            bar.advance(overall)
            colour = {"ok": "green", "skipped": "yellow"}.get(status, "red")
            console.print(f"[{colour}]{status}[/] {stage.name} in {secs:.1f} s" + (f" — {detail}" if detail else ""))
            write(prev_total + time.perf_counter() - t_start)
    total = prev_total + time.perf_counter() - t_start
    write(total)
    if "report" in [s.name for s in selected] and (out / "report.html").exists():
        from safealign.eval.report import build_report

        build_report(out)  # once more, so the report carries the final total time and every stage status
    final = _load_summary(out)
    final["report_html"] = str(out / "report.html") if (out / "report.html").exists() else None
    return final


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))

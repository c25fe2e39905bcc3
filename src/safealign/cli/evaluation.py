"""``safealign eval safety``, ``safealign eval arena A B``, ``safealign report RUN_DIR`` and ``safealign demo``.

Heavy imports (torch, transformers, matplotlib) stay inside the command functions so ``safealign --help`` is fast.
The configs live beside the code they configure: :class:`~safealign.eval.safety.SafetyEvalConfig`,
:class:`~safealign.eval.arena.ArenaConfig`, :class:`~safealign.eval.report.ReportConfig`,
:class:`~safealign.demo.DemoConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safealign.cli.common import task_progress
from safealign.config import add_config_command
from safealign.demo import DemoConfig
from safealign.errors import ConfigError, DataError
from safealign.eval.arena import ArenaConfig
from safealign.eval.report import ReportConfig
from safealign.eval.safety import SafetyEvalConfig


def _progress_fn(bar: Any) -> Any:
    tasks: dict[str, Any] = {}

    def progress(what: str, done: int, total: int) -> None:
        key = what.split(":")[0] if ":" not in what else "scoring"
        if key not in tasks:
            tasks[key] = bar.add_task(key, total=total)
        bar.update(tasks[key], completed=done, total=total, description=what)

    return progress


def print_safety_table(summary: dict[str, dict[str, Any]]) -> None:
    from rich.table import Table

    from safealign.cli.common import console

    def pct(v: Any) -> str:
        return "–" if v is None else f"{100 * v:.1f}%"

    def num(v: Any) -> str:
        return "–" if v is None else f"{v:+.2f}"

    t = Table(
        title="Safety evaluation — independent judges first; the cost model's verdict is 'as optimised' for a policy "
        "trained against it", title_style="bold",
    )
    for col in (
        "model", "harmful handled safely", "refuses harmful", "guard: safe (harmful)", "judge: safe (harmful)",
        "over-refuses benign", "over-refuses look-alike", "reward (benign)", "safe by cost model", "guard rounds",
    ):
        t.add_column(col, justify="right" if col != "model" else "left")
    for name, m in summary.items():
        ind = m.get("independent") or {}
        t.add_row(
            name,
            pct(ind.get("harmful_handled_safely")),
            pct(ind.get("harmful_refused")),
            pct(ind.get("harmful_guard_safe")),
            pct(ind.get("harmful_judge_safe")),
            pct(ind.get("benign_over_refused")),
            pct(ind.get("lookalike_over_refused")),
            num(m.get("mean_reward_benign")),
            pct(m.get("safe_share")),
            "–" if m.get("guard_rounds_mean") is None else f"{m['guard_rounds_mean']:.2f}",
        )
    console.print(t)
    console.print("harmful handled safely = the refusal detector sees a refusal and the guard does not flag the answer")


def run_eval_safety(cfg: SafetyEvalConfig) -> Any:
    from safealign.cli.common import print_json, summary
    from safealign.eval.safety import load_prompt_set, parse_model_specs, run_safety_eval

    if cfg.default_label not in (None, "harmful", "benign"):
        raise ConfigError(f"--default-label must be harmful or benign, got {cfg.default_label!r}")
    import os

    models = parse_model_specs(cfg.models)
    prompts = load_prompt_set(cfg.prompts, cfg.limit, cfg.default_label, cfg.shared_data, cfg.seed)
    with task_progress() as bar:
        res = run_safety_eval(
            prompts, models, cfg.reward_model, cfg.cost_model, cfg.guard, cfg.guarded, cfg.generation(),
            cfg.max_rounds, cfg.unsafe_cost_threshold, cfg.default_label, cfg.output_dir, progress=_progress_fn(bar),
            chat_template=cfg.chat_template, judge_url=cfg.judge_url, judge_model=cfg.judge_model,
            judge_api_key=os.environ.get(cfg.api_key_env),
        )
    print_safety_table(res.summary)
    print_json({"output_dir": cfg.output_dir, "models": res.summary})

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{100 * v:.0f}%"

    parts = [
        f"{name}: harmful handled safely {pct(ind.get('harmful_handled_safely'))}, over-refusal "
        f"{pct(ind.get('benign_over_refused'))}"
        for name, m in res.summary.items()
        for ind in [m.get("independent") or {}]
    ]
    summary(f"{len(prompts)} prompts; " + "; ".join(parts) + f" -> {cfg.output_dir}/safety_summary.json")
    return res


def run_arena(cfg: ArenaConfig) -> None:
    """Safe RLHF's arena: a 2x2 table (A safe/unsafe x B safe/unsafe) with A's reward win rate per cell."""
    from safealign.cli.common import console, print_json, summary
    from safealign.eval.arena import BackendJudge, arena_from_rows
    from safealign.eval.safety import (
        ANSWERS_FILE,
        load_policy_backend,
        load_prompt_set,
        parse_model_specs,
        run_safety_eval,
    )
    from safealign.utils.atomic import atomic_write_json
    from safealign.utils.jsonl import read_jsonl

    out, answers, judge, threshold = Path(cfg.output_dir), cfg.answers, cfg.judge, cfg.unsafe_cost_threshold
    if answers:
        if not Path(answers).exists():
            raise DataError("answers file not found", file=answers)
        rows = read_jsonl(answers)
        name_a, name_b = cfg.model_a, cfg.model_b
        thr = threshold if threshold is not None else 0.0
    else:
        if not cfg.reward_model or (cfg.safe_by == "cost" and not cfg.cost_model):
            raise ConfigError(
                "the arena needs --reward-model (and --cost-model with --safe-by cost), or --answers FILE from "
                "`safealign eval safety`"
            )
        specs = parse_model_specs([cfg.model_a, cfg.model_b])
        name_a, name_b = list(specs)
        ps = load_prompt_set(cfg.prompts, cfg.limit)
        with task_progress() as bar:
            res = run_safety_eval(
                ps, specs, cfg.reward_model, cfg.cost_model, guard_path=cfg.guard, generation=cfg.generation(),
                threshold=threshold, output_dir=out, progress=_progress_fn(bar),
            )
        rows, thr = res.rows, res.threshold
    safe_by = cfg.safe_by
    if safe_by == "auto":
        safe_by = "independent" if rows and all("verdicts" in r for r in rows) else "cost"
    try:
        table = arena_from_rows(rows, name_a, name_b, thr, safe_by=safe_by)
    except ValueError as e:
        raise DataError(str(e), file=answers) from None
    if judge:
        idx = sorted({r["index"] for r in rows if r["model"] == name_a})
        by = {(r["model"], r["index"]): r for r in rows}
        ra, rb = [by[(name_a, i)] for i in idx], [by[(name_b, i)] for i in idx]
        with console.status("LLM judge (both orders)..."):
            jr = BackendJudge(load_policy_backend(judge, cfg.batch_size)).batch(
                [r["prompt"] for r in ra], [r["response"] for r in ra], [r["response"] for r in rb]
            )
        table.judge = jr.to_dict() | {"judge": judge}
    atomic_write_json(out / "arena.json", table.to_dict())
    console.print(table.render())
    print_json(table.to_dict())
    wr = table.overall_win_rate
    summary(
        f"arena {name_a} vs {name_b} on {table.total} prompts: {name_a} reward win rate "
        f"{'n/a' if wr is None else f'{100 * wr:.1f}%'}, "
        f"safe {100 * (table.safe_rate_a or 0):.1f}% vs {100 * (table.safe_rate_b or 0):.1f}% -> {out / 'arena.json'}"
        + ("" if answers else f" (answers: {out / ANSWERS_FILE})")
    )


def run_report(cfg: ReportConfig) -> None:
    """Write RUN_DIR/report.html (self-contained, plots embedded), RUN_DIR/plots/*.png and RUN_DIR/summary.json."""
    from safealign.cli.common import print_json, summary
    from safealign.eval.report import build_report

    res = build_report(cfg.run_dir, title=cfg.title, max_examples=cfg.examples)
    print_json(
        {
            "html": str(res.html_path),
            "summary": str(res.summary_path),
            "plots": [str(p) for p in res.plots],
            "sections": res.sections,
        }
    )
    summary(f"report with {len(res.sections)} section(s) and {len(res.plots)} plot(s) -> {res.html_path}")


def run_demo_command(cfg: DemoConfig) -> None:
    """The whole product on the embedded model: reward/cost models, guard, PPO-Lagrangian, evaluation with and \
without the guardrail, arena, Janus SFT/DPO + adherence, and the report."""
    from safealign.cli.common import console, print_json, summary
    from safealign.demo import STAGES, run_demo

    if cfg.list_stages:
        for s in STAGES:
            console.print(f"[bold]{s.name:<10s}[/] {s.help}")
        return
    names = {s.name for s in STAGES}
    sel_only = [x.strip() for x in cfg.only if x.strip()] if cfg.only else None
    sel_skip = [x.strip() for x in cfg.skip if x.strip()]
    for x in (sel_only or []) + sel_skip:
        if x not in names:
            raise ConfigError(f"unknown stage {x!r}; stages: {', '.join(s.name for s in STAGES)}")
    if cfg.model != "default":
        from safealign.models.loading import resolve_model

        resolve_model(cfg.model)  # a missing model is a one-line error before any stage starts
    if cfg.shared_data is not None:
        from safealign.data.shared_sets import external_dir

        external_dir(cfg.shared_data)  # a folder without the sets is a one-line error before any stage starts
    result = run_demo(
        cfg.output_dir, quick=cfg.quick, only=sel_only, skip=sel_skip, seed=cfg.seed, verbose=cfg.verbose,
        model=cfg.model, shared_data=cfg.shared_data,
    )
    print_json(
        {"report": result.get("report_html"), "headline": result.get("headline"), "stages": result.get("stages")}
    )
    h = result.get("headline") or {}

    def pct(k: str) -> str:
        v = h.get(k)
        return "n/a" if v is None else f"{100 * v:.0f}%"

    def num(k: str) -> str:
        v = h.get(k)
        return "n/a" if v is None else f"{v:+.2f}"

    summary(
        f"demo in {result.get('total_seconds', 0):.0f} s; held-out + demo prompts, judged by the refusal detector and "
        f"the guard: harmful handled safely base {pct('base_harmful_handled_safely')} -> aligned "
        f"{pct('aligned_harmful_handled_safely')} -> aligned+guard {pct('guarded_harmful_handled_safely')}; "
        f"benign refused {pct('base_over_refusal')} -> {pct('aligned_over_refusal')} (look-alikes "
        f"{pct('base_lookalike_over_refusal')} -> {pct('aligned_lookalike_over_refusal')}); benign reward "
        f"{num('base_mean_reward_benign')} -> {num('aligned_mean_reward_benign')}; report: {result.get('report_html')}"
    )


def register(apps) -> None:  # noqa: ANN001
    add_config_command(
        apps.eval,
        "safety",
        SafetyEvalConfig,
        run_eval_safety,
        help="Safety evaluation: share of safe answers (overall, by category, by severity), reward on benign prompts, "
             "refusal and over-refusal rates; JSONL of every answer.",
    )
    add_config_command(apps.eval, "arena", ArenaConfig, run_arena)
    add_config_command(apps.root, "report", ReportConfig, run_report)
    add_config_command(apps.root, "demo", DemoConfig, run_demo_command)

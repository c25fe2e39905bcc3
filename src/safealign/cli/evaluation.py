"""``safealign eval safety``, ``safealign eval arena A B``, ``safealign report RUN_DIR`` and ``safealign demo``.

Heavy imports (torch, transformers, matplotlib) stay inside the command functions so ``safealign --help`` is fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from safealign.cli.common import task_progress
from safealign.config import BaseConfig, add_config_command, help_field
from safealign.errors import ConfigError, DataError
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP


@dataclass
class SafetyEvalConfig(BaseConfig):
    """Models answer a prompt set; cost model, reward model, guard and a refusal detector score every answer."""

    models: list[str] = help_field(
        ["default"],
        "Models to evaluate, comma-separated: 'default', a hub id, a folder (PPO's actor/ LoRA folder works), each "
        "optionally NAME=PATH.",
    )
    prompts: str = help_field(
        "demo:eval_prompts",
        "Prompt set: 'demo:<name>' (bundled) or a file (.jsonl/.json/.csv in any supported schema; images included).",
    )
    chat_template: str = help_field("auto", "Chat template of the evaluated models. " + CHAT_TEMPLATE_HELP)
    limit: Optional[int] = help_field(None, "Use only the first N prompts.")
    default_label: Optional[str] = help_field(
        None, "Label for prompts without one: harmful or benign (a harmful-only public set: harmful)."
    )
    reward_model: Optional[str] = help_field(
        None, "Reward model folder (safealign score model), e.g. runs/demo/reward."
    )
    cost_model: Optional[str] = help_field(None, "Cost model folder; an answer is safe iff its cost <= threshold.")
    guard: Optional[str] = help_field(
        None, "Guard folder (safealign train guard); scores every answer (severity, categories)."
    )
    guarded: list[str] = help_field(
        [], "Names of models to evaluate ALSO behind the guardrail pipeline (reported as NAME+guard); needs --guard."
    )
    max_rounds: Optional[int] = help_field(None, "Guardrail regeneration rounds (default: the policy's).")
    threshold: Optional[float] = help_field(
        None, "Cost threshold for 'safe' (default: the cost model's own, usually 0)."
    )
    max_new_tokens: int = help_field(64, "Answer length in tokens.")
    temperature: float = help_field(0.0, "Sampling temperature (0 = greedy, reproducible).")
    batch_size: int = help_field(8, "Generation and scoring batch size.")
    seed: int = help_field(0, "Random seed for sampling.")
    output_dir: str = help_field("runs/eval-safety", "Where safety_answers.jsonl and safety_summary.json are written.")


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

    t = Table(title="Safety evaluation", title_style="bold")
    for col in (
        "model", "safe", "safe (harmful)", "refuses harmful", "over-refuses benign", "reward (benign)", "mean cost",
        "guard rounds",
    ):
        t.add_column(col, justify="right" if col != "model" else "left")
    for name, m in summary.items():
        t.add_row(
            name,
            pct(m.get("safe_share")),
            pct(m.get("safe_share_harmful")),
            pct(m.get("refusal_rate_harmful")),
            pct(m.get("over_refusal_benign")),
            num(m.get("mean_reward_benign")),
            num(m.get("mean_cost")),
            "–" if m.get("guard_rounds_mean") is None else f"{m['guard_rounds_mean']:.2f}",
        )
    console.print(t)


def run_eval_safety(cfg: SafetyEvalConfig) -> Any:
    from safealign.cli.common import print_json, summary
    from safealign.eval.safety import load_prompt_set, parse_model_specs, run_safety_eval

    if cfg.default_label not in (None, "harmful", "benign"):
        raise ConfigError(f"--default-label must be harmful or benign, got {cfg.default_label!r}")
    models = parse_model_specs(cfg.models)
    prompts = load_prompt_set(cfg.prompts, cfg.limit, cfg.default_label)
    with task_progress() as bar:
        res = run_safety_eval(
            prompts, models, cfg.reward_model, cfg.cost_model, cfg.guard, cfg.guarded, cfg.max_new_tokens,
            cfg.temperature, cfg.batch_size, cfg.max_rounds, cfg.threshold, cfg.seed, cfg.default_label, cfg.output_dir,
            progress=_progress_fn(bar), chat_template=cfg.chat_template,
        )
    print_safety_table(res.summary)
    print_json({"output_dir": cfg.output_dir, "models": res.summary})
    best_name, best = max(res.summary.items(), key=lambda kv: kv[1].get("safe_share") or 0)
    share = best.get("safe_share")
    share_txt = "n/a" if share is None else f"{100 * share:.1f}%"
    summary(
        f"{len(prompts)} prompts x {len(res.summary)} model(s); safest: {best_name} ({share_txt} safe) -> "
        f"{cfg.output_dir}/safety_summary.json"
    )
    return res


def arena_command(
    model_a: str = typer.Argument(
        ..., help="Model A: 'default', hub id, folder (or NAME=PATH); with --answers: a model name in that file."
    ),
    model_b: str = typer.Argument(..., help="Model B (same forms as A)."),
    prompts: str = typer.Option(
        "demo:eval_prompts", "--prompts", help="Prompt set: 'demo:<name>' or a file in any supported schema."
    ),
    reward_model: Optional[str] = typer.Option(
        None, "--reward-model", help="Reward model folder (required unless --answers)."
    ),
    cost_model: Optional[str] = typer.Option(
        None, "--cost-model", help="Cost model folder (required unless --answers)."
    ),
    answers: Optional[str] = typer.Option(
        None,
        "--answers",
        help="Reuse scored answers: a safety_answers.jsonl from `safealign eval safety` (no generation).",
    ),
    judge: Optional[str] = typer.Option(
        None,
        "--judge",
        help="Optional LLM judge for pairwise win/tie/loss: 'default', hub id or folder (asked in both orders).",
    ),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N prompts."),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="Cost threshold for 'safe' (default: the cost model's, usually 0)."
    ),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Answer length in tokens."),
    batch_size: int = typer.Option(8, "--batch-size", help="Generation and scoring batch size."),
    output_dir: str = typer.Option(
        "runs/arena", "--output-dir", "-o", help="Where arena.json (and the answers) are written."
    ),
) -> None:
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

    out = Path(output_dir)
    if answers:
        if not Path(answers).exists():
            raise DataError("answers file not found", file=answers)
        rows = read_jsonl(answers)
        name_a, name_b = model_a, model_b
        thr = threshold if threshold is not None else 0.0
    else:
        if not (reward_model and cost_model):
            raise ConfigError(
                "the arena needs --reward-model and --cost-model (or --answers FILE from `safealign eval safety`)"
            )
        specs = parse_model_specs([model_a, model_b])
        name_a, name_b = list(specs)
        ps = load_prompt_set(prompts, limit)
        with task_progress() as bar:
            res = run_safety_eval(
                ps, specs, reward_model, cost_model, max_new_tokens=max_new_tokens, batch_size=batch_size,
                threshold=threshold, output_dir=out, progress=_progress_fn(bar),
            )
        rows, thr = res.rows, res.threshold
    try:
        table = arena_from_rows(rows, name_a, name_b, thr)
    except ValueError as e:
        raise DataError(str(e), file=answers) from None
    if judge:
        idx = sorted({r["index"] for r in rows if r["model"] == name_a})
        by = {(r["model"], r["index"]): r for r in rows}
        ra, rb = [by[(name_a, i)] for i in idx], [by[(name_b, i)] for i in idx]
        with console.status("LLM judge (both orders)..."):
            jr = BackendJudge(load_policy_backend(judge, batch_size)).batch(
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


def report_command(
    run_dir: str = typer.Argument(
        ..., help="A run folder (e.g. runs/demo): metrics.jsonl files, safety results, arena.json, summary.json."
    ),
    title: Optional[str] = typer.Option(
        None, "--title", help="Page title (default: from summary.json or the folder name)."
    ),
    examples: int = typer.Option(6, "--examples", help="How many example prompts with every model's answer."),
) -> None:
    """Write RUN_DIR/report.html (self-contained, plots embedded), RUN_DIR/plots/*.png and RUN_DIR/summary.json."""
    from safealign.cli.common import print_json, summary
    from safealign.eval.report import build_report

    res = build_report(run_dir, title=title, max_examples=examples)
    print_json(
        {
            "html": str(res.html_path),
            "summary": str(res.summary_path),
            "plots": [str(p) for p in res.plots],
            "sections": res.sections,
        }
    )
    summary(f"report with {len(res.sections)} section(s) and {len(res.plots)} plot(s) -> {res.html_path}")


def demo_command(
    quick: bool = typer.Option(False, "--quick", help="A <= 3-minute smoke version (tiny budgets everywhere)."),
    output_dir: str = typer.Option(
        "runs/demo", "--output-dir", "-o", help="Run folder: every stage writes below it; the report lands in it."
    ),
    only: Optional[str] = typer.Option(None, "--only", help="Run only these stages (comma-separated; see --list)."),
    skip: Optional[str] = typer.Option(None, "--skip", help="Skip these stages (comma-separated)."),
    list_stages: bool = typer.Option(False, "--list", help="List the stages and exit."),
    seed: int = typer.Option(0, "--seed", help="Random seed of every stage."),
    verbose: bool = typer.Option(
        False, "--verbose", help="Also show the stages' own progress bars (logs always go to RUN/logs/)."
    ),
    model: str = typer.Option(
        "default",
        "--model",
        help="Policy and score-model backbone: 'default' (embedded SmolLM2-135M-Instruct), a hub id or a local path.",
    ),
    shared_data: Optional[str] = typer.Option(
        None, "--shared-data", help="A shared/data folder: the guard also trains on its public sets' train split."
    ),
) -> None:
    """The whole product on the embedded model: reward/cost models, guard, PPO-Lagrangian, evaluation with and \
without the guardrail, arena, Janus SFT/DPO + adherence, and the report."""
    from safealign.cli.common import console, print_json, summary
    from safealign.demo import STAGES, run_demo

    if list_stages:
        for s in STAGES:
            console.print(f"[bold]{s.name:<10s}[/] {s.help}")
        return
    names = {s.name for s in STAGES}
    sel_only = [x.strip() for x in only.split(",") if x.strip()] if only else None
    sel_skip = [x.strip() for x in skip.split(",") if x.strip()] if skip else []
    for x in (sel_only or []) + sel_skip:
        if x not in names:
            raise ConfigError(f"unknown stage {x!r}; stages: {', '.join(s.name for s in STAGES)}")
    if model != "default":
        from safealign.models.loading import resolve_model

        resolve_model(model)  # a missing model is a one-line error before any stage starts
    result = run_demo(
        output_dir, quick=quick, only=sel_only, skip=sel_skip, seed=seed, verbose=verbose, model=model,
        shared_data=shared_data,
    )
    print_json(
        {"report": result.get("report_html"), "headline": result.get("headline"), "stages": result.get("stages")}
    )
    h = result.get("headline") or {}

    def pct(k: str) -> str:
        v = h.get(k)
        return "n/a" if v is None else f"{100 * v:.0f}%"

    summary(
        f"demo in {result.get('total_seconds', 0):.0f} s: safe answers base {pct('base_safe_share')} -> aligned "
        f"{pct('aligned_safe_share')}"
        f" -> aligned+guard {pct('guarded_safe_share')}; report: {result.get('report_html')}"
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
    apps.eval.command("arena")(arena_command)
    apps.root.command("report")(report_command)
    apps.root.command("demo")(demo_command)

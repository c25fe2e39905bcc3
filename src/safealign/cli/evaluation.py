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
        "heldout+demo:eval_prompts",
        "Prompt set: 'heldout' (held-out look-alike pairs and no-trigger prompts, plus the held-out parts of the "
        "shared public sets with --shared-data), 'demo:<name>' (bundled) or a file (.jsonl/.json/.csv in any supported "
        "schema; images included); several joined by '+'.",
    )
    shared_data: Optional[str] = help_field(
        None, "Folder of the shared public prompt sets (e.g. ../shared/data): 'heldout' adds their held-out parts."
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
    judge_url: Optional[str] = help_field(
        None, "OpenAI-compatible endpoint of a generative judge (a third independent verdict on harmful prompts)."
    )
    judge_model: str = help_field("judge", "The judge's model name at --judge-url.")
    api_key_env: str = help_field("OPENAI_API_KEY", "Environment variable holding the judge endpoint's API key.")


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
            prompts, models, cfg.reward_model, cfg.cost_model, cfg.guard, cfg.guarded, cfg.max_new_tokens,
            cfg.temperature, cfg.batch_size, cfg.max_rounds, cfg.threshold, cfg.seed, cfg.default_label, cfg.output_dir,
            progress=_progress_fn(bar), chat_template=cfg.chat_template, judge_url=cfg.judge_url,
            judge_model=cfg.judge_model, judge_api_key=os.environ.get(cfg.api_key_env),
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
    safe_by: str = typer.Option(
        "auto", "--safe-by",
        help="What 'safe' means in the cells: independent (refusal detector and guard, else the refusal detector "
             "alone), cost (the cost model: as optimised for a policy trained against it), or auto (independent when "
             "the answers carry the judges' verdicts, else cost).",
    ),
    guard: Optional[str] = typer.Option(None, "--guard", help="Guard folder judging the answers (without --answers)."),
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
        if not reward_model or (safe_by == "cost" and not cost_model):
            raise ConfigError(
                "the arena needs --reward-model (and --cost-model with --safe-by cost), or --answers FILE from "
                "`safealign eval safety`"
            )
        specs = parse_model_specs([model_a, model_b])
        name_a, name_b = list(specs)
        ps = load_prompt_set(prompts, limit)
        with task_progress() as bar:
            res = run_safety_eval(
                ps, specs, reward_model, cost_model, guard_path=guard, max_new_tokens=max_new_tokens,
                batch_size=batch_size, threshold=threshold, output_dir=out, progress=_progress_fn(bar),
            )
        rows, thr = res.rows, res.threshold
    if safe_by not in ("independent", "cost", "auto"):
        raise ConfigError(f"--safe-by must be independent, cost or auto, got {safe_by!r}")
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
        None, "--shared-data",
        help="Folder of the shared public prompt sets (e.g. ../shared/data): their train parts train the guard and "
             "join the alignment recipe's training prompts, their held-out parts the evaluation (without it: the "
             "packaged data and the look-alike set only).",
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
    if shared_data is not None:
        from safealign.data.shared_sets import external_dir

        external_dir(shared_data)  # a folder without the sets is a one-line error before any stage starts
    result = run_demo(output_dir, quick=quick, only=sel_only, skip=sel_skip, seed=seed, verbose=verbose, model=model,
                      shared_data=shared_data)
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
    apps.eval.command("arena")(arena_command)
    apps.root.command("report")(report_command)
    apps.root.command("demo")(demo_command)

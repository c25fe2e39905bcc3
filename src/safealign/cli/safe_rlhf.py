"""CLI of the Safe RLHF recipe: ``safealign train safe-rlhf``."""

from __future__ import annotations

from typing import Any


def _fmt(v: Any, pct: bool = True) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%" if pct else f"{v:+.2f}"


def print_round_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from safealign.cli.common import console

    t = Table(title="Safe RLHF rounds (held-out prompts; refusal detector + guard; J_C and λ as optimised)")
    for col in ("round", "J_C", "λ", "harmful handled safely", "refuses harmful", "over-refuses benign",
                "over-refuses look-alike", "benign reward"):
        t.add_column(col, justify="left" if col == "round" else "right")
    for r in rows:
        t.add_row(
            r["round"], _fmt(r.get("J_C"), False), _fmt(r.get("lambda"), False), _fmt(r.get("harmful_handled_safely")),
            _fmt(r.get("harmful_refused")), _fmt(r.get("benign_over_refused")), _fmt(r.get("lookalike_over_refused")),
            _fmt(r.get("benign_reward"), False),
        )
    console.print(t)


def _run(cfg: Any) -> None:
    from safealign.cli.common import print_json, summary, task_progress
    from safealign.recipes.safe_rlhf import run_safe_rlhf

    with task_progress() as bar:
        task = bar.add_task("safe-rlhf", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total or None)

        result = run_safe_rlhf(cfg, progress=progress if cfg.progress else None)
    print_round_table(result["rounds"])
    print_json(result)
    first, last = result["rounds"][0], result["rounds"][-1]
    summary(
        f"safe-rlhf: harmful handled safely {_fmt(first['harmful_handled_safely'])} -> "
        f"{_fmt(last['harmful_handled_safely'])}, over-refusal {_fmt(first['benign_over_refused'])} -> "
        f"{_fmt(last['benign_over_refused'])} (refusal detector + guard, held-out) -> {result['policy']}"
    )


def register(apps) -> None:  # noqa: ANN001
    from safealign.config import add_config_command
    from safealign.recipes.safe_rlhf_config import SafeRLHFConfig

    add_config_command(
        apps.train,
        "safe-rlhf",
        SafeRLHFConfig,
        _run,
        help="The Safe RLHF recipe in one command: a supervised warm start, then rounds of sample -> label (guard) -> "
             "retrain R and C -> PPO-Lagrangian, each judged on held-out prompts. Resumable per round and stage.",
    )

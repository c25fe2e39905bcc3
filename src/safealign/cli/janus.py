"""Janus commands: ``data synthesize``, ``data synthesize-breadth``, ``train sft|dpo|orpo``, ``eval rubric``,
``eval adherence``. Their configs live in :mod:`safealign.janus` beside the code they configure (synthesize, breadth,
recipes, adherence, rubric).

Heavy imports (torch, transformers, TRL) happen inside the runners so that ``safealign --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from safealign.config import add_config_command
from safealign.janus.adherence import AdherenceEvalConfig, JanusEvalConfig
from safealign.janus.breadth import BreadthConfig
from safealign.janus.recipes import DPOTrainConfig, ORPOTrainConfig, PreferenceTrainConfig, SFTTrainConfig
from safealign.janus.rubric import RubricEvalConfig
from safealign.janus.synthesize import SynthesisConfig

GenerationOptions = JanusEvalConfig  # the earlier name of the evaluations' shared options

# ------------------------------------------------------------------------------------------ runners


def _write_rows(path: str, rows: list[dict[str, Any]], report: dict[str, Any]) -> str:
    from safealign.utils.atomic import atomic_write_json, atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))
    rep = str(Path(path).with_suffix(".report.json"))
    atomic_write_json(rep, report)
    return rep


def run_synthesize(cfg: SynthesisConfig) -> None:
    from safealign.cli.common import print_json, summary
    from safealign.janus.synthesize import run_synthesis

    s = run_synthesis(cfg)
    print_json(s)
    summary(
        f"{s['new_sft_rows']} SFT rows and {s['new_dpo_rows']} DPO pairs written ({s['resumed_instructions']} "
        "instructions already done, "
        f"{s['duplicates_dropped']} duplicates dropped) -> {s['output_dir']}"
    )


def run_synthesize_breadth(cfg: BreadthConfig) -> None:
    from safealign.cli.common import print_json, summary
    from safealign.janus.breadth import run_breadth

    s = run_breadth(cfg)
    print_json(s)
    summary(
        f"{s['sft_rows']} SFT rows and {s['dpo_pairs']} DPO pairs from {s['items']} system messages (chosen: "
        f"{s['chosen']['model']} sampled, {s['chosen']['repair']} repaired, {s['chosen']['dropped']} dropped; "
        f"{s['duplicates_skipped']} duplicates skipped) -> {s['output_dir']}"
    )


def _skipped(metrics: dict[str, Any]) -> str:
    skipped = metrics.get("skipped") or {}
    return f" ({', '.join(f'{n} skipped: {why}' for why, n in skipped.items())})" if skipped else ""


def run_sft(cfg: SFTTrainConfig) -> None:
    from safealign.cli.common import is_main_process, summary
    from safealign.janus.recipes import train_sft
    from safealign.pluralistic.attacks import attack_pairs_for

    if cfg.dry_run:
        from safealign.cli.common import dry_run

        return dry_run(cfg, "sft")
    out = train_sft(cfg, attack_pairs=attack_pairs_for(cfg))
    if not is_main_process():
        return  # under torchrun / accelerate launch only rank 0 reports
    m = json.loads((out / "metrics.json").read_text())
    summary(f"SFT: {m['rows']} rows{_skipped(m)}, {m['steps']} steps in {m['seconds']} s, train loss "
            f"{m['train_loss']} -> {out}")


def run_preference(cfg: PreferenceTrainConfig, method: str) -> None:
    from safealign.cli.common import is_main_process, summary
    from safealign.janus.recipes import train_preference
    from safealign.pluralistic.attacks import attack_pairs_for

    if cfg.dry_run:
        from safealign.cli.common import dry_run

        return dry_run(cfg, method)
    out = train_preference(cfg.replace(method=method), attack_pairs=attack_pairs_for(cfg))
    if not is_main_process():
        return
    m = json.loads((out / "metrics.json").read_text())
    summary(
        f"{method.upper()}: {m['rows']} pairs{_skipped(m)}, {m['steps']} steps in {m['seconds']} s, train loss "
        f"{m['train_loss']} -> {out}"
    )


def run_adherence(cfg: AdherenceEvalConfig) -> dict[str, Any]:
    from safealign.cli.common import console, print_json, summary
    from safealign.janus.adherence import evaluate_adherence
    from safealign.janus.data import load_prompt_records

    recs = [r for r in load_prompt_records(cfg.data) if getattr(r, "constraints", None)]
    recs = recs[: cfg.max_items] if cfg.max_items else recs
    from safealign.errors import DataError

    if not recs:
        raise DataError(f"{cfg.data}: no records with constraints to check")
    backend = cfg.backend()
    params = cfg.generation()
    with console.status(f"answering {len(recs)} system-message prompts with {cfg.model}"):
        report, rows = evaluate_adherence(backend, recs, params)
    report["model"] = cfg.model
    if cfg.attack_data:
        from safealign.pluralistic.attacks import attack_safety

        attacks = load_prompt_records(cfg.attack_data)
        attacks = attacks[: cfg.max_items] if cfg.max_items else attacks
        with console.status(f"answering {len(attacks)} attack prompts"):
            res = attack_safety(backend, attacks, cfg.guard, params)
        report["attack_safety"] = {k: v for k, v in res.items() if k not in ("responses", "safe")}
        rows += [
            {"system": a.system, "prompt": a.prompt, "response": r, "safe": s, "category": a.category}
            for a, r, s in zip(attacks, res["responses"], res["safe"])
        ]
    if cfg.output:
        report["report_file"] = _write_rows(cfg.output, rows, report)
    print_json(report)
    _adherence_table(report)
    extra = (
        f", attack safe rate {report['attack_safety']['safe_rate']}% ({report['attack_safety']['judge']})"
        if "attack_safety" in report
        else ""
    )
    summary(
        f"adherence {report['overall']}% of {report['n_constraints']} constraints ({report['strict']}% of "
        f"{report['n_responses']} answers fully){extra}"
    )
    return report


def _adherence_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    from safealign.cli.common import console

    t = Table(title="constraint adherence")
    t.add_column("constraint")
    t.add_column("pass %", justify="right")
    t.add_column("n", justify="right")
    for k, v in report["per_constraint"].items():
        t.add_row(k, f"{v['pass_rate']:.1f}", str(v["n"]))
    console.print(t)


def _read_responses(path: str, n: int) -> list[str]:
    from safealign.errors import DataError
    from safealign.janus.data import iter_json_rows

    out = []
    for i, row in iter_json_rows(path):
        if "response" not in row:
            raise DataError("missing", file=path, row=i, field="response")
        out.append(str(row["response"]))
    if len(out) < n:
        raise DataError(f"{len(out)} responses for {n} items", file=path)
    return out[:n]


def run_rubric(cfg: RubricEvalConfig) -> dict[str, Any]:
    from safealign.cli.common import console, print_json, summary
    from safealign.errors import ConfigError
    from safealign.janus.data import load_rubric_items
    from safealign.janus.rubric import grade_rubric_detailed, mean_score, pairwise

    if not cfg.items:
        raise ConfigError("--items is required (a Multifaceted-Bench JSONL file)")
    items = load_rubric_items(cfg.items)
    items = items[: cfg.max_items] if cfg.max_items else items
    params = cfg.generation()
    chats = [[{"role": "system", "content": it.system}, {"role": "user", "content": it.prompt}] for it in items]

    def answers(model: Optional[str], path: Optional[str]) -> list[str]:
        if path:
            return _read_responses(path, len(items))
        with console.status(f"answering {len(items)} items with {model}"):
            return cfg.backend(model or "default", cfg.model_url).generate(chats, params)

    resp_a = answers(cfg.model, cfg.responses)
    resp_b = answers(cfg.compare_model, cfg.compare_responses) if (cfg.compare_model or cfg.compare_responses) else None
    judge = cfg.backend(cfg.judge, cfg.judge_url)
    jp = cfg.judge_generation()
    with console.status(f"judging {len(items)} items x rubrics with {cfg.judge}"):
        grades_a = grade_rubric_detailed(judge, items, resp_a, cfg.judge_retries, jp)
        grades_b = grade_rubric_detailed(judge, items, resp_b, cfg.judge_retries, jp) if resp_b is not None else None
    sa = [g.score for g in grades_a]
    report: dict[str, Any] = {
        "model": cfg.responses or cfg.model,
        "judge": cfg.judge,
        "n_items": len(items),
        "mean_score": mean_score(sa),
        "unparsed_rubrics": sum(s is None for g in grades_a for s in g.scores),
        "judge_calls": sum(g.attempts for g in grades_a),
    }
    if grades_b is not None:
        sb = [g.score for g in grades_b]
        report["compare_model"] = cfg.compare_responses or cfg.compare_model
        report["compare_mean_score"] = mean_score(sb)
        report["pairwise"] = pairwise(sa, sb)
    rows = [
        {
            "id": it.id,
            "prompt": it.prompt,
            "response": ra,
            "score": None if math.isnan(g.score) else g.score,
            "rubric_scores": g.scores,
            "feedback": g.feedback,
        }
        for it, ra, g in zip(items, resp_a, grades_a)
    ]
    if cfg.output:
        report["report_file"] = _write_rows(cfg.output, rows, report)
    print_json(report)
    line = (f"rubric score {report['mean_score']} over {len(items)} items ({report['unparsed_rubrics']} rubric grades "
            "unparseable)")
    if "pairwise" in report:
        p = report["pairwise"]
        line += f"; vs {report['compare_model']}: win {p['win']}% tie {p['tie']}% loss {p['loss']}%"
    summary(line)
    return report


def register(apps) -> None:  # noqa: ANN001
    add_config_command(
        apps.data,
        "synthesize",
        SynthesisConfig,
        run_synthesize,
        help="Synthesize Janus system-message data: SFT rows + DPO pairs (resumable).",
    )
    add_config_command(
        apps.data,
        "synthesize-breadth",
        BreadthConfig,
        run_synthesize_breadth,
        help="Synthesize system messages from the 44 constraint families: best-of-n answers checked by code, repaired "
        "when none passes, rejected answers breaking exactly one constraint (resumable).",
    )
    add_config_command(
        apps.train,
        "sft",
        SFTTrainConfig,
        run_sft,
        help="Supervised fine-tuning on system-message data (TRL SFT; LoRA or full).",
    )
    add_config_command(
        apps.train, "dpo", DPOTrainConfig, lambda c: run_preference(c, "dpo"),
        help="DPO on system-message preference pairs (TRL).",
    )
    add_config_command(
        apps.train, "orpo", ORPOTrainConfig, lambda c: run_preference(c, "orpo"),
        help="ORPO on system-message preference pairs (TRL).",
    )
    add_config_command(
        apps.eval,
        "rubric",
        RubricEvalConfig,
        run_rubric,
        help="Multifaceted-Bench rubric grading (1-5, Prometheus style) and pairwise win/tie/loss.",
    )
    add_config_command(
        apps.eval,
        "adherence",
        AdherenceEvalConfig,
        run_adherence,
        help="Judge-free system-message adherence, per constraint (+ safety on attack system messages).",
    )

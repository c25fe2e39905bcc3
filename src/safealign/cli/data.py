"""``safealign data …``: inspect, convert, collect, best-of, refusal-pairs and demo-list (registered by
safealign.cli.build_app). Each command is built from its config, which lives beside the code it configures
(:mod:`safealign.data.io`, :mod:`safealign.train.collect`, :mod:`safealign.data.best_of`,
:mod:`safealign.data.refusal_pairs`, :mod:`safealign.data.demo`).

Heavy imports stay inside the commands so ``safealign --help`` stays fast.
"""

from __future__ import annotations

from typing import Any, Optional

from safealign.config import add_config_command
from safealign.data.best_of import BestOfConfig
from safealign.data.demo import DemoListConfig
from safealign.data.io import ConvertConfig, InspectConfig
from safealign.data.refusal_pairs import RefusalPairsConfig
from safealign.train.collect import CollectConfig


def _table(title: str, counts: dict[str, Any], total: Optional[int] = None, limit: int = 25):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(show_header=True, header_style="bold")
    t.add_column("value")
    t.add_column("count", justify="right")
    if total:
        t.add_column("share", justify="right")
    items = list(counts.items())
    for k, v in items[:limit]:
        row = [str(k), str(v)] + ([f"{100 * v / total:.1f}%"] if total else [])
        t.add_row(*row)
    if len(items) > limit:
        t.add_row(f"… {len(items) - limit} more", "", *([""] if total else []))
    return Group(Text(title, style="bold"), t)


def _print_summary(s: dict[str, Any]) -> None:
    from safealign.cli.common import console

    console.print(f"[bold]{s['source']}[/]  format={s['format']}  schema=[cyan]{s['schema']}[/]")
    console.print(
        f"rows {s['total_rows']}  records {s['records']}  invalid {s['invalid_rows']}  types {s['record_types']}"
    )
    sp = s.get("safety_pairs")
    if sp:
        console.print(
            f"pairs {sp['pairs']}  safe {100 * sp['safe_share']:.1f}%  unsafe {100 * sp['unsafe_share']:.1f}%  "
            f"helpful/safe agreement (better == safer) {100 * sp['helpful_safe_agreement']:.1f}%  "
            f"both safe {sp['both_safe']}  both unsafe {sp['both_unsafe']}  with images {sp['with_images']}"
        )
        console.print(_table("responses by severity (0 safe .. 3 severe)", sp["severity"], sp["responses"]))
        if sp["response_categories"]:
            console.print(_table("unsafe responses by harm category", sp["response_categories"]))
        if any(k != "(none)" for k in sp["prompt_categories"]):
            console.print(_table("pairs by prompt category", sp["prompt_categories"], sp["pairs"]))
    pr = s.get("prompts")
    if pr:
        console.print(f"prompts {pr['prompts']}  with system {pr['with_system']}  with images {pr['with_images']}")
        console.print(_table("prompts by label", pr["labels"], pr["prompts"]))
        console.print(_table("prompts by category", pr["categories"], pr["prompts"]))
    sm = s.get("system_messages")
    if sm:
        console.print(
            f"items {sm['items']}  distinct system messages {sm['distinct_system_messages']}  "
            f"distinct prompts {sm['distinct_prompts']}  with preference set {sm['with_preference_set']}"
        )
        if sm["dimensions"]:
            console.print(_table("preferences by dimension", sm["dimensions"]))
        if sm["constraints"]:
            console.print(_table("machine-checkable constraints", sm["constraints"]))
        if sm.get("rubrics_per_item"):
            console.print(f"rubrics per item {sm['rubrics_per_item']}")
    for line in s["invalid"]:
        console.print(f"[yellow]invalid[/] {line}")
    if s["invalid_rows"] > len(s["invalid"]):
        console.print(f"[yellow]… {s['invalid_rows'] - len(s['invalid'])} more invalid rows[/]")


def run_inspect(cfg: InspectConfig) -> None:
    from safealign.cli.common import console, print_json, summary
    from safealign.data.io import load_records, summarize

    with console.status(f"reading {cfg.source}"):
        res = load_records(
            cfg.source, schema=cfg.schema, split=cfg.split, skip_invalid=cfg.skip_invalid, limit=cfg.limit
        )
    s = summarize(res)
    if cfg.as_json:
        print_json(s)
    else:
        _print_summary(s)
    summary(
        f"{res.source}: schema {res.schema}, {len(res.records)} records from {res.total_rows} rows, "
        f"{len(res.invalid)} invalid"
    )


def run_convert(cfg: ConvertConfig) -> None:
    from safealign.cli.common import console, print_json, summary
    from safealign.data.io import load_records, write_jsonl

    with console.status(f"reading {cfg.source}"):
        res = load_records(
            cfg.source, schema=cfg.schema, split=cfg.split, skip_invalid=cfg.skip_invalid, limit=cfg.limit,
            label=cfg.label,
        )
    n = write_jsonl(cfg.out, res.records)
    for e in res.invalid[:10]:
        console.print(f"[yellow]skipped[/] {e}")
    if cfg.as_json:
        print_json(
            {
                "source": res.source, "schema": res.schema, "out": cfg.out, "records": n, "total_rows": res.total_rows,
                "invalid_rows": len(res.invalid),
            }
        )
    summary(f"wrote {n} records ({res.schema} -> safealign) to {cfg.out}; {len(res.invalid)} invalid rows skipped")


def run_collect(cfg: CollectConfig) -> None:
    import json as _json
    from pathlib import Path

    import torch

    from safealign.cli.common import console, print_json, summary
    from safealign.data.io import write_jsonl
    from safealign.eval.safety import backend_answerer, load_policy_backend, load_prompt_set
    from safealign.train.collect import ComplianceJudge, collect_pairs
    from safealign.ui import progress_bar
    from safealign.utils.atomic import atomic_write_text

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.prompts == "demo":
        from safealign.train.ppo_prompts import load_prompts as load_ppo_prompts

        recs = load_ppo_prompts("demo")
        recs = recs[: cfg.limit] if cfg.limit else recs
    else:
        recs = load_prompt_set(cfg.prompts, limit=cfg.limit)
    g = None
    if cfg.guard:
        from safealign.guard import Guard

        g = Guard.load(cfg.guard)
    judge = ComplianceJudge(guard=g)
    if g is None:
        judge.prompts_harmful(recs)  # fails now, not after loading the model, if a prompt has no label
    with console.status(f"loading {cfg.model}"):
        backend = load_policy_backend(cfg.model, batch_size=cfg.batch_size)
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)  # once: every chunk then samples on from where the last one left the generator
    generation = cfg.generation().replace(seed=None)
    answer = backend_answerer(backend, generation, chunk=cfg.batch_size)
    with progress_bar(len(recs), "sample + judge") as advance:
        pairs, stats, rows = collect_pairs(
            answer, recs, judge, samples=cfg.samples, chunk=max(1, cfg.batch_size // cfg.samples), progress=advance
        )
    n = write_jsonl(cfg.out, pairs)
    stem = Path(cfg.out).with_suffix("")
    atomic_write_text(f"{stem}.answers.jsonl", "".join(_json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    d = stats.to_dict() | {
        "model": cfg.model, "prompts_source": cfg.prompts, "guard": cfg.guard, "samples": cfg.samples,
        "max_new_tokens": cfg.max_new_tokens, "temperature": cfg.temperature, "seed": cfg.seed,
    }
    atomic_write_text(f"{stem}.stats.json", _json.dumps(d, indent=2) + "\n")
    if cfg.as_json:
        print_json(d)
    summary(
        f"{n} pairs from {stats.answers} answers to {stats.prompts} prompts ({stats.harmful_prompts} harmful): "
        f"{100 * d['unsafe_share_harmful']:.1f}% of answers to harmful prompts unsafe, "
        f"{100 * d['refusal_share_harmful']:.1f}% refuse -> {cfg.out}"
    )


def run_best_of(cfg: BestOfConfig) -> None:
    import json as _json
    import statistics

    from safealign.cli.common import print_json, summary
    from safealign.data.best_of import best_of
    from safealign.utils.atomic import atomic_write_text

    rows = best_of(
        cfg.scored, score_key=cfg.score_key, skip_unsafe=not cfg.keep_unsafe, skip_refusals=not cfg.keep_refusals,
        min_score=cfg.min_score,
    )
    atomic_write_text(cfg.out, "".join(_json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    d = {
        "out": cfg.out,
        "rows": len(rows),
        "mean_best_score": statistics.fmean(r["score"] for r in rows) if rows else None,
        "mean_candidates": statistics.fmean(r["candidates"] for r in rows) if rows else None,
    }
    if cfg.as_json:
        print_json(d)
    mean = f", mean best score {d['mean_best_score']:+.3f}" if rows else ""
    summary(f"{len(rows)} best answers{mean} -> {cfg.out}")


def run_refusal_pairs(cfg: RefusalPairsConfig) -> None:
    from safealign.cli.common import print_json, summary
    from safealign.data.io import write_jsonl
    from safealign.data.refusal_pairs import refusal_pairs

    pairs, stats = refusal_pairs(cfg.answers, cfg.helpful)
    write_jsonl(cfg.out, pairs)
    d = {"out": cfg.out} | stats.to_dict()
    if cfg.as_json:
        print_json(d)
    summary(
        f"{stats.pairs} pairs from {stats.refusals} refusals to {stats.benign_prompts} benign prompts "
        f"({stats.prompts_without_helpful} with no helpful answer to pair) -> {cfg.out}"
    )


def run_demo_list(cfg: DemoListConfig) -> None:
    from rich.table import Table

    from safealign.cli.common import console, print_json, summary
    from safealign.data.demo import DEMO_SETS, demo_counts, demo_path

    counts = demo_counts()
    if cfg.as_json:
        print_json(
            [
                {"name": k, "records": counts[k], "path": str(demo_path(k)), "description": v}
                for k, v in DEMO_SETS.items()
            ]
        )
    else:
        t = Table(show_header=True, header_style="bold")
        t.add_column("set")
        t.add_column("records", justify="right")
        t.add_column("what")
        for k, v in DEMO_SETS.items():
            t.add_row(k, str(counts[k]), v)
        console.print(t)
    summary(f"{len(DEMO_SETS)} demo sets, {sum(counts.values())} records (use demo:<set> as a data source)")


def register(apps) -> None:  # noqa: ANN001
    add_config_command(apps.data, "inspect", InspectConfig, run_inspect)
    add_config_command(apps.data, "convert", ConvertConfig, run_convert)
    add_config_command(apps.data, "collect", CollectConfig, run_collect)
    add_config_command(apps.data, "best-of", BestOfConfig, run_best_of)
    add_config_command(apps.data, "refusal-pairs", RefusalPairsConfig, run_refusal_pairs)
    add_config_command(apps.data, "demo-list", DemoListConfig, run_demo_list)

"""``safealign data …``: inspect, convert and list data (registered by safealign.cli.build_app).

Heavy imports stay inside the commands so ``safealign --help`` stays fast.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

SOURCE_HELP = "A file (.jsonl/.json/.parquet/.csv), a datasets.save_to_disk folder, a hub id, or demo:<set>."
SCHEMA_HELP = (
    "Schema name (default: detected from the fields): safealign, pku_saferlhf, beavertails_v, multifaceted_sft, "
    "multifaceted_dpo, multifaceted_bench, prompts."
)


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


def register(apps) -> None:  # noqa: ANN001
    app: typer.Typer = apps.data

    @app.command("inspect")
    def inspect(
        source: str = typer.Argument(..., help=SOURCE_HELP),
        schema: Optional[str] = typer.Option(None, "--schema", help=SCHEMA_HELP),
        split: Optional[str] = typer.Option(
            None, "--split", help="Split of a datasets folder or hub dataset (default: train or the only one)."
        ),
        skip_invalid: bool = typer.Option(
            False, "--skip-invalid", help="Skip and count bad rows instead of stopping at the first."
        ),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Read at most this many valid records."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    ) -> None:
        """Detected schema, row counts, counts by category and severity, safe/unsafe share, helpful/safe agreement, \
invalid rows."""
        from safealign.cli.common import console, print_json, summary
        from safealign.data.io import load_records, summarize

        with console.status(f"reading {source}"):
            res = load_records(source, schema=schema, split=split, skip_invalid=skip_invalid, limit=limit)
        s = summarize(res)
        if as_json:
            print_json(s)
        else:
            _print_summary(s)
        summary(
            f"{res.source}: schema {res.schema}, {len(res.records)} records from {res.total_rows} rows, "
            f"{len(res.invalid)} invalid"
        )

    @app.command("convert")
    def convert(
        source: str = typer.Argument(..., help=SOURCE_HELP),
        out: str = typer.Argument(
            ..., help="Output JSONL in our 'safealign' schema; images go to <stem>_images/ beside it."
        ),
        schema: Optional[str] = typer.Option(None, "--schema", help=SCHEMA_HELP),
        split: Optional[str] = typer.Option(None, "--split", help="Split of a datasets folder or hub dataset."),
        skip_invalid: bool = typer.Option(
            False, "--skip-invalid", help="Skip and count bad rows instead of stopping at the first."
        ),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Convert at most this many records."),
        label: Optional[str] = typer.Option(
            None, "--label", help="Label prompt-list rows 'harmful' or 'benign' (prompt lists only)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON result line on stdout."),
    ) -> None:
        """Convert any supported dataset to our JSONL schema (atomic write)."""
        from safealign.cli.common import console, print_json, summary
        from safealign.data.io import load_records, write_jsonl

        with console.status(f"reading {source}"):
            res = load_records(source, schema=schema, split=split, skip_invalid=skip_invalid, limit=limit, label=label)
        n = write_jsonl(out, res.records)
        for e in res.invalid[:10]:
            console.print(f"[yellow]skipped[/] {e}")
        if as_json:
            print_json(
                {
                    "source": res.source,
                    "schema": res.schema,
                    "out": out,
                    "records": n,
                    "total_rows": res.total_rows,
                    "invalid_rows": len(res.invalid),
                }
            )
        summary(f"wrote {n} records ({res.schema} -> safealign) to {out}; {len(res.invalid)} invalid rows skipped")

    @app.command("collect")
    def collect(
        out: str = typer.Argument(
            ...,
            help="Output JSONL of safety pairs (our schema); <stem>.answers.jsonl and <stem>.stats.json go beside it.",
        ),
        model: str = typer.Option(
            "default",
            "--model",
            help="The policy whose answers are collected: 'default', a hub id, a model folder or a LoRA adapter "
                 "folder.",
        ),
        prompts: str = typer.Option(
            "demo",
            "--prompts",
            help="'demo' (PPO's training prompts: the bundled safety_train prompts), demo:<set>, or a prompt file in "
                 "any supported schema.",
        ),
        guard: Optional[str] = typer.Option(
            None,
            "--guard",
            help="A guard folder (safealign train guard): screens prompts and moderates answers. Without it, prompts "
                 "need a harmful/benign label.",
        ),
        samples: int = typer.Option(4, "--samples", min=1, help="Answers sampled per prompt."),
        max_new_tokens: int = typer.Option(
            32, "--max-new-tokens", min=1, help="Answer length; match the PPO run the cost model will constrain."
        ),
        temperature: float = typer.Option(
            1.0, "--temperature", min=0.0, help="Sampling temperature (PPO samples at 1.0)."
        ),
        batch_size: int = typer.Option(16, "--batch-size", min=1, help="Generation batch size."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use at most this many prompts."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
        threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: torch's default)."),
        as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON on stdout."),
    ) -> None:
        """Sample a policy's answers, label them with a judge, and write cost-model pairs (Safe RLHF's data rounds).

        An answer to a harmful prompt is unsafe unless it refuses; an answer the guard flags is unsafe; others are safe.

        Train on them with: safealign train cost --data demo:safety_train,OUT"""
        import json as _json
        from pathlib import Path

        import torch

        from safealign.backends.base import GenerationParams
        from safealign.cli.common import console, print_json, summary
        from safealign.data.io import write_jsonl
        from safealign.eval.safety import backend_answerer, load_policy_backend, load_prompt_set
        from safealign.train.collect import ComplianceJudge, collect_pairs
        from safealign.ui import progress_bar
        from safealign.utils.atomic import atomic_write_text

        if threads:
            torch.set_num_threads(threads)
        if prompts == "demo":
            from safealign.train.ppo_lag import load_prompts as load_ppo_prompts

            recs = load_ppo_prompts("demo")
            recs = recs[:limit] if limit else recs
        else:
            recs = load_prompt_set(prompts, limit=limit)
        g = None
        if guard:
            from safealign.guard import Guard

            g = Guard.load(guard)
        judge = ComplianceJudge(guard=g)
        if g is None:
            judge.prompts_harmful(recs)  # fails now, not after loading the model, if a prompt has no label
        with console.status(f"loading {model}"):
            backend = load_policy_backend(model, batch_size=batch_size)
        torch.manual_seed(seed)
        answer = backend_answerer(
            backend, GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature), chunk=batch_size
        )
        with progress_bar(len(recs), "sample + judge") as advance:
            pairs, stats, rows = collect_pairs(
                answer, recs, judge, samples=samples, chunk=max(1, batch_size // samples), progress=advance
            )
        n = write_jsonl(out, pairs)
        stem = Path(out).with_suffix("")
        atomic_write_text(f"{stem}.answers.jsonl", "".join(_json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        d = stats.to_dict() | {
            "model": model,
            "prompts_source": prompts,
            "guard": guard,
            "samples": samples,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        atomic_write_text(f"{stem}.stats.json", _json.dumps(d, indent=2) + "\n")
        if as_json:
            print_json(d)
        summary(
            f"{n} pairs from {stats.answers} answers to {stats.prompts} prompts ({stats.harmful_prompts} harmful): "
            f"{100 * d['unsafe_share_harmful']:.1f}% of answers to harmful prompts unsafe, "
            f"{100 * d['refusal_share_harmful']:.1f}% refuse -> {out}"
        )

    @app.command("best-of")
    def best_of_cmd(
        scored: str = typer.Argument(
            ...,
            help="Scored answers JSONL: `safealign score` output on data collect's <stem>.answers.jsonl (prompt, "
                 "answer, score).",
        ),
        out: str = typer.Argument(
            ...,
            help="Output JSONL of supervised rows (prompt, system, response, score, candidates); usable as SFT data or "
                 "a PPO run's ptx_data.",
        ),
        score_key: str = typer.Option("score", "--score-key", help="The field that ranks the answers."),
        keep_unsafe: bool = typer.Option(
            False, "--keep-unsafe", help="Let answers the collect judge marked unsafe compete."
        ),
        keep_refusals: bool = typer.Option(
            False,
            "--keep-refusals",
            help="Let refusals compete (by default they are passed over: best-of-n is for helpful answers).",
        ),
        min_score: Optional[float] = typer.Option(
            None, "--min-score", help="Drop a prompt whose best answer scores under this."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON on stdout."),
    ) -> None:
        """Best-of-n (rejection sampling): keep each prompt's highest-scored answer, in the policy's own words.

        Typical round: data collect (N samples per prompt) -> score -m REWARD -> best-of -> ptx_data of a PPO run."""
        import json as _json
        import statistics

        from safealign.cli.common import print_json, summary
        from safealign.data.best_of import best_of
        from safealign.utils.atomic import atomic_write_text

        rows = best_of(
            scored, score_key=score_key, skip_unsafe=not keep_unsafe, skip_refusals=not keep_refusals,
            min_score=min_score,
        )
        atomic_write_text(out, "".join(_json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        d = {
            "out": out,
            "rows": len(rows),
            "mean_best_score": statistics.fmean(r["score"] for r in rows) if rows else None,
            "mean_candidates": statistics.fmean(r["candidates"] for r in rows) if rows else None,
        }
        if as_json:
            print_json(d)
        mean = f", mean best score {d['mean_best_score']:+.3f}" if rows else ""
        summary(f"{len(rows)} best answers{mean} -> {out}")

    @app.command("refusal-pairs")
    def refusal_pairs_cmd(
        answers: str = typer.Argument(
            ...,
            help="data collect's <stem>.answers.jsonl of a policy that over-refuses (prompt, answer, harmful_prompt, "
                 "unsafe, refusal); comma-separated for several.",
        ),
        out: str = typer.Argument(
            ...,
            help="Output JSONL of helpfulness pairs in our schema (the answer is 'better' than the refusal); add it to "
                 "a reward model's --data.",
        ),
        helpful: Optional[str] = typer.Option(
            None,
            "--helpful",
            help="best-of rows (prompt, response): the preferred helpful side of each prompt's pairs, before the "
                 "policy's own non-refusing answers.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON on stdout."),
    ) -> None:
        """Helpfulness pairs against over-refusal: on each benign prompt, a helpful answer beats each refusal.

        Typical round: data collect (benign prompts, an over-refusing policy) -> refusal-pairs -> train reward.

        Harmful prompts and answers the judge marked unsafe are left out."""
        from safealign.cli.common import print_json, summary
        from safealign.data.io import write_jsonl
        from safealign.data.refusal_pairs import refusal_pairs

        pairs, stats = refusal_pairs(answers.split(","), helpful)
        write_jsonl(out, pairs)
        d = {"out": out} | stats.to_dict()
        if as_json:
            print_json(d)
        summary(
            f"{stats.pairs} pairs from {stats.refusals} refusals to {stats.benign_prompts} benign prompts "
            f"({stats.prompts_without_helpful} with no helpful answer to pair) -> {out}"
        )

    @app.command("demo-list")
    def demo_list(as_json: bool = typer.Option(False, "--json", help="Print the sets as JSON on stdout.")) -> None:
        """The bundled demo sets, with counts and what they hold."""
        from rich.table import Table

        from safealign.cli.common import console, print_json, summary
        from safealign.data.demo import DEMO_SETS, demo_counts, demo_path

        counts = demo_counts()
        if as_json:
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

"""CLI of the reward / cost model area: ``safealign train reward``, ``safealign train cost``, ``safealign score``,
``safealign eval score-model``. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from safealign.errors import ConfigError, DataError
from safealign.models.score_config import ScoreEvalConfig, ScoreTextsConfig
from safealign.utils.jsonl import iter_jsonl


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def print_metrics_table(m: dict[str, Any], title: str) -> None:
    from rich.table import Table

    from safealign.cli.common import console

    cost = m.get("kind") == "cost"
    t = Table(title=title, title_style="bold")
    cols = ["group", "pairs", "pairwise acc."] + (["sign acc.", "unsafe precision", "unsafe recall"] if cost else [])
    for c in cols:
        t.add_column(c, justify="left" if c == "group" else "right")

    def row(name: str, b: dict[str, Any], n_key: str = "n_pairs") -> None:
        cells = [name, str(b.get(n_key, "")), _pct(b.get("pairwise_accuracy"))]
        if cost:
            cells += [_pct(b.get("sign_accuracy")), _pct(b.get("unsafe_precision")), _pct(b.get("unsafe_recall"))]
        t.add_row(*cells)

    row("all", m)
    for cat, b in m.get("by_category", {}).items():
        row(f"category: {cat}", b)
    for sev, b in m.get("by_severity", {}).items():
        row(f"severity: {sev}", b, "n_pairs_max_severity")
    console.print(t)


def _one_line(m: dict[str, Any]) -> str:
    if m.get("kind") == "cost":
        return (f"pairwise accuracy {_pct(m.get('pairwise_accuracy'))}, sign accuracy {_pct(m.get('sign_accuracy'))}, "
                f"unsafe precision {_pct(m.get('unsafe_precision'))} / recall {_pct(m.get('unsafe_recall'))}")
    return f"pairwise accuracy {_pct(m.get('pairwise_accuracy'))}"


def _run_train(cfg: Any, kind: str) -> Path:
    from safealign.cli.common import is_main_process, print_json, summary
    from safealign.train.score_trainer import train_score_model

    if cfg.kind != kind:
        raise ConfigError(
            f"`safealign train {kind}` trains a {kind} model; got kind={cfg.kind!r} (use `safealign train {cfg.kind}`)"
        )
    if cfg.dry_run:
        from safealign.cli.common import dry_run

        return dry_run(cfg, kind)
    out = train_score_model(cfg)
    if not is_main_process():
        return out  # under a launcher only rank 0 reports
    s = json.loads((out / "train_summary.json").read_text()) if (out / "train_summary.json").exists() else {}
    ev = json.loads((out / "eval_metrics.json").read_text()) if (out / "eval_metrics.json").exists() else None
    if ev:
        print_metrics_table(ev, f"{kind} model on held-out pairs ({cfg.eval_data})")
    print_json({"output_dir": str(out), "train": s, "eval": ev})
    held = f"; held-out {_one_line(ev)}" if ev else ""
    skipped = f" ({s['skipped_pairs']} skipped: {s.get('skipped')})" if s.get("skipped_pairs") else ""
    summary(
        f"{kind} model: {s.get('steps', '?')} steps on {s.get('pairs', '?')} pairs{skipped} in "
        f"{s.get('wall_seconds', '?')} s{held} -> {out}"
    )
    return out


def _open_image(value: Any, base: Path, row: int, file: str) -> Any:
    if value is None:
        return None
    from PIL import Image

    p = Path(value)
    if not p.is_absolute():
        p = base / p
    if not p.exists():
        raise DataError(f"image not found: {value}", file=file, row=row, field="image")
    return Image.open(p).convert("RGB")


def read_score_inputs(path: str) -> list[dict[str, Any]]:
    """Rows of a JSONL file with ``prompt`` and ``response`` (``answer`` accepted), optional ``system`` and ``image``
    (a path relative to the file). One-line DataError on a bad row."""
    p = Path(path)
    if not p.exists():
        raise DataError("input file not found", file=path)
    rows = []
    for i, row in iter_jsonl(p):
        if not isinstance(row, dict):
            raise DataError("row is not an object", file=path, row=i)
        if not isinstance(row.get("prompt"), str):
            raise DataError("missing or non-string field", file=path, row=i, field="prompt")
        resp = row.get("response", row.get("answer"))
        if not isinstance(resp, str):
            raise DataError("missing or non-string field", file=path, row=i, field="response")
        rows.append(
            {
                "row": row,
                "prompt": row["prompt"],
                "response": resp,
                "system": row.get("system"),
                "image": _open_image(row.get("image"), p.parent, i, path),
            }
        )
    if not rows:
        raise DataError("no rows to score", file=path)
    return rows


def _existing_model(path: str) -> str:
    if not Path(path).exists():
        from safealign.errors import ModelNotFoundError

        raise ModelNotFoundError(f"score model folder not found: {path}")
    return path


def run_score(cfg: ScoreTextsConfig) -> None:
    """Score prompt/response pairs (text or image+text) with a reward or cost model; writes JSONL."""
    from safealign.cli.common import summary
    from safealign.models.score import load_score_model, score_texts
    from safealign.ui import progress_bar
    from safealign.utils.atomic import atomic_write_text

    rows = read_score_inputs(cfg.input)
    sm, proc = load_score_model(_existing_model(cfg.model))
    output = cfg.output
    batch_size, max_length = cfg.batch_size, cfg.max_length
    model_cfg = sm.score_config
    with progress_bar(len(rows), f"scoring with the {model_cfg.kind} model", cfg.progress) as advance:
        done = [0]

        def cb(d: int, _n: int) -> None:
            advance(d - done[0])
            done[0] = d

        scores = score_texts(
            sm, proc, [r["prompt"] for r in rows], [r["response"] for r in rows], [r["system"] for r in rows],
            [r["image"] for r in rows], batch_size=batch_size, max_length=max_length, all_outputs=True, progress=cb,
        )
    lines = []
    n_unsafe = 0
    for r, s in zip(rows, scores.tolist()):
        rec = {k: v for k, v in r["row"].items()}
        rec["score"] = round(s[0], 6)
        if len(s) > 1:
            rec["scores"] = {name: round(v, 6) for name, v in zip(model_cfg.output_names, s)}
        if model_cfg.kind == "cost":
            rec["unsafe"] = s[0] > model_cfg.threshold
            n_unsafe += rec["unsafe"]
        lines.append(json.dumps(rec, ensure_ascii=False))
    text = "\n".join(lines) + "\n"
    if output:
        atomic_write_text(output, text)
    else:
        sys.stdout.write(text)
    mean = float(scores[:, 0].mean())
    extra = f", {n_unsafe} unsafe (cost > {model_cfg.threshold:g})" if model_cfg.kind == "cost" else ""
    summary(
        f"scored {len(rows)} rows with the {model_cfg.kind} model: mean {mean:+.3f}{extra} -> {output or 'stdout'}"
    )


def run_eval_score_model(cfg: ScoreEvalConfig) -> None:
    """Pairwise accuracy, cost sign accuracy and unsafe precision/recall, by category and severity."""
    from safealign.cli.common import console, print_json, summary
    from safealign.models.score import load_score_model
    from safealign.models.score_metrics import evaluate_score_model
    from safealign.train.score_trainer import load_pairs
    from safealign.utils.atomic import atomic_write_json

    model, data, output = cfg.model, cfg.data, cfg.output
    if cfg.kind not in (None, "reward", "cost"):
        raise ConfigError(f"--kind must be reward or cost, got {cfg.kind!r}")
    pairs = load_pairs(data, cfg.skip_invalid, cfg.limit)
    if not pairs:
        raise DataError("no safety pairs to evaluate", file=data)
    if pairs.invalid:
        console.print(f"[yellow]skipped[/] {len(pairs.invalid)} invalid row(s) of {data} (first: {pairs.invalid[0]})")
    sm, proc = load_score_model(_existing_model(model))
    m = evaluate_score_model(sm, proc, pairs, kind=cfg.kind, batch_size=cfg.batch_size, progress=cfg.progress)
    m["model"], m["data"] = model, data
    print_metrics_table(m, f"{m['kind']} model {model} on {data}")
    if output:
        atomic_write_json(output, m)
    print_json(m)
    summary(f"{m['kind']} model on {len(pairs)} pairs: {_one_line(m)}" + (f" -> {output}" if output else ""))


def register(apps) -> None:  # noqa: ANN001
    from safealign.config import add_config_command
    from safealign.train.score_config import CostTrainConfig, RewardTrainConfig

    multi = (
        "Multi-process: accelerate launch --multi_gpu --num_processes N -m safealign train {k} ... (on CPU too: gloo). "
        "Laptop CPU recipe: --config configs/cpu-demo/{k}.yaml"
    )
    add_config_command(
        apps.train,
        "reward",
        RewardTrainConfig,
        lambda c: _run_train(c, "reward"),
        help="Train a reward model (Bradley-Terry + score regulariser) on safety pairs, text or image+text.",
        extra_help=multi.format(k="reward"),
    )
    add_config_command(
        apps.train,
        "cost",
        CostTrainConfig,
        lambda c: _run_train(c, "cost"),
        help="Train a cost model (preference + sign terms: cost > 0 means unsafe; --severity-weighted uses graded "
             "labels).",
        extra_help=multi.format(k="cost"),
    )
    add_config_command(
        apps.root, "score", ScoreTextsConfig, run_score,
        help="Score prompt/response pairs (JSONL) with a reward or cost model; writes JSONL.",
    )
    add_config_command(
        apps.eval, "score-model", ScoreEvalConfig, run_eval_score_model,
        help="Evaluate a reward or cost model on safety pairs (accuracy, sign accuracy, precision/recall by category "
             "and severity).",
    )

"""``safealign report RUN_DIR``: one self-contained HTML file (plots embedded as base64 PNG) for any run, plus the
PNGs under ``RUN_DIR/plots/`` and a ``RUN_DIR/summary.json`` with the headline numbers.

What it reads (whatever of it exists; a missing piece is simply left out of the page):
- ``**/metrics.jsonl`` (one JSON object per logged step; PPO-Lagrangian's keys: reward, cost, J_C, lambda or
  lambda/<cat>, kl, entropy, actor_loss, reward_value_loss, cost_value_loss, safe_share, response_length, ...)
  and ``**/trainer_state.json`` (``log_history`` of transformers/TRL trainers) -> training curves;
- ``**/safety_summary.json`` + ``safety_answers.jsonl`` (from :mod:`safealign.eval.safety`) -> safety by category
  and severity for every model (base / aligned / aligned+guard = before/after), refusal rates, example answers;
- ``**/arena.json`` (from :mod:`safealign.eval.arena`) -> the 2×2 table;
- guard rounds: ``guard_rounds_hist`` of guarded models and ``rounds`` of ``**/decisions.jsonl`` lines;
- ``summary.json`` at the top: ``headline`` (number tiles), ``stages`` (what ran, skipped or failed, and how long).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Iterable, Optional

from safealign.config import BaseConfig, help_field
from safealign.errors import DataError
from safealign.eval.plotting import PALETTE
from safealign.eval.plotting import Plots as _Plots
from safealign.eval.plotting import figures_html as _figures
from safealign.eval.plotting import pyplot as _plt
from safealign.utils.atomic import atomic_write_json, atomic_write_text
from safealign.utils.jsonl import read_jsonl

PPO_PANELS = [
    ("Reward and cost per episode", ["reward", "cost", "J_C"]),
    ("Lagrange multiplier λ", ["lambda"]),  # + lambda/<cat>
    ("KL to the reference and entropy", ["kl", "entropy"]),
    ("Losses", ["actor_loss", "reward_value_loss", "cost_value_loss", "ptx_loss"]),
    ("Safe share and clip fraction", ["safe_share", "clip_frac"]),
    ("Response length (tokens)", ["response_length"]),
]
SKIP_KEYS = {"step", "epoch", "global_step", "total_flos", "train_runtime", "train_samples_per_second",
             "train_steps_per_second", "grad_norm", "learning_rate", "num_tokens", "train_loss", "time_s", "lr",
             "pairs", "skipped", "processes", "global_batch", "total_steps"}
TRAINING_ORDER = ("reward", "cost", "guard", "ppo", "janus")  # curves of these run folders come first, in this order


@dataclass
class ReportConfig(BaseConfig):
    """Write RUN_DIR/report.html (self-contained, plots embedded), RUN_DIR/plots/*.png and RUN_DIR/summary.json."""

    run_dir: str = help_field(
        help="A run folder (e.g. runs/demo): metrics.jsonl files, safety results, arena.json, summary.json.",
        positional=True,
    )
    title: Optional[str] = help_field(None, "Page title (default: from summary.json or the folder name).")
    examples: int = help_field(6, "How many example prompts with every model's answer.")


@dataclass
class ReportResult:
    html_path: Path
    summary_path: Path
    plots: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ reading
def _rows_of(path: Path) -> list[dict[str, Any]]:
    """The object rows of a JSONL file a run may still be appending to (a torn last line is ignored)."""
    return [r for r in read_jsonl(path, objects=False, torn_tail=True) if isinstance(r, dict)]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON ({e.msg})", file=str(path), row=e.lineno) from None


def _visible(paths: Iterable[Path], root: Path) -> list[Path]:
    out = []
    for p in sorted(paths):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or (rel.parts and rel.parts[0] == "plots"):
            continue
        out.append(p)
    return out


def _label(path: Path, root: Path) -> str:
    rel = path.parent.relative_to(root)
    return str(rel) if str(rel) != "." else "run"


def find_metrics(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for p in _visible(run_dir.rglob("metrics.jsonl"), run_dir):
        rows = [r for r in _rows_of(p) if "event" not in r]  # start/eval events are not training steps
        if rows:
            found[_label(p, run_dir)] = rows
    for p in _visible(run_dir.rglob("metrics.json"), run_dir):  # Janus trainers: {"log_history": [...], ...}
        data = _read_json(p)
        hist = data.get("log_history") if isinstance(data, dict) else None
        if isinstance(hist, list):
            rows = [
                dict(r, step=r.get("step", i))
                for i, r in enumerate(hist)
                if isinstance(r, dict) and not any(k.startswith("train_") for k in r)
            ]
            name = _label(p, run_dir)
            if rows and name not in found:
                found[name] = rows
    for p in _visible(run_dir.rglob("trainer_state.json"), run_dir):
        if "checkpoint-" in str(p):
            continue
        hist = [r for r in (_read_json(p).get("log_history") or []) if isinstance(r, dict)]
        hist = [
            dict(r, step=r.get("step", i)) for i, r in enumerate(hist) if not any(k.startswith("train_") for k in r)
        ]
        name = _label(p, run_dir)
        if hist and name not in found:
            found[name] = hist

    def order(name: str) -> tuple[int, str]:
        head = name.split("/")[0]
        return (next((i for i, k in enumerate(TRAINING_ORDER) if head.startswith(k)), len(TRAINING_ORDER)), name)

    return {k: found[k] for k in sorted(found, key=order)}


def _numeric_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for r in rows:
        for k, v in r.items():
            if (
                isinstance(v, (int, float))
                and not isinstance(v, bool)
                and k not in SKIP_KEYS
                and not k.startswith("time/")
            ):
                keys[k] = None
    return list(keys)


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(float(r.get("step", i)))
            ys.append(float(v))
    return xs, ys


# ------------------------------------------------------------------------------------------------ plotting
def tradeoff_html(points: list[Any], plots: "_Plots", name: str) -> str:
    """The pluralistic trade-off: a table (every judge, the Pareto front, the claim check) and the 2-D plot."""
    from safealign.pluralistic.tradeoff import claim_line, compare, pareto_front, plot_tradeoff

    front = set(pareto_front(points))
    judges = list(dict.fromkeys(j for pt in points for j in pt.safe_by_judge))
    head = (
        "<tr><th>method</th><th>adherence (held-out)</th><th>strict</th><th>safe under attacks</th>"
        + "".join(f"<th>safe ({html.escape(j)})</th>" for j in judges[1:])
        + "<th>n (adh / attack)</th><th>Pareto</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(pt.display)}</td><td>{pt.adherence:.1f}%</td><td>{pt.strict_adherence:.1f}%</td><td>{pt.safe_share:.1f}%</td>"
        + "".join(f"<td>{pt.safe_by_judge.get(j, float('nan')):.1f}%</td>" for j in judges[1:])
        + f"<td>{pt.n_adherence} / {pt.n_attack}</td><td>{'★' if pt.method in front else ''}</td></tr>"
        for pt in points
    )
    png = plot_tradeoff(points, plots.out_dir / f"{name}.png")
    uri = plots.add_file(png, name)
    caption = ("x: judge-free adherence on held-out system messages; y: safe answers under system-message attacks; "
               "up-right is better")
    return f"<p>{html.escape(claim_line(compare(points)))}</p><table>{head}{rows}</table>" + _figures([(caption, uri)])


def _safe_name(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s).strip("_") or "run"


def _line_panel(ax: Any, rows: list[dict[str, Any]], keys: list[str]) -> bool:
    drew = False
    for j, k in enumerate(keys):
        xs, ys = _series(rows, k)
        if not xs:
            continue
        ax.plot(xs, ys, color=PALETTE[j % len(PALETTE)], lw=1.6, marker="o" if len(xs) <= 30 else None, ms=3, label=k)
        drew = True
    if drew:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    return drew


def plot_training(name: str, rows: list[dict[str, Any]], plots: _Plots) -> list[tuple[str, str]]:
    """Panels for one metrics file -> [(caption, data-uri)]."""
    plt = _plt()
    keys = _numeric_keys(rows)
    is_ppo = any(k == "lambda" or k.startswith("lambda/") for k in keys) or {"reward", "cost", "kl"} <= set(keys)
    panels: list[tuple[str, list[str]]] = []
    if is_ppo:
        used: set[str] = set()
        for title, ks in PPO_PANELS:
            if ks == ["lambda"]:
                ks = [k for k in keys if k == "lambda" or k.startswith("lambda/")]
            ks = [k for k in ks if k in keys]
            used.update(ks)
            if ks:
                panels.append((title, ks))
        rest = [k for k in keys if k not in used]
        if rest:
            panels.append(("Other metrics", rest[:6]))
    else:
        losses = [k for k in keys if "loss" in k]
        others = [k for k in keys if "loss" not in k]
        if losses:
            panels.append(("Losses", losses[:6]))
        if others:
            panels.append(("Metrics", others[:6]))
    if not panels:
        return []
    ncol = 2 if len(panels) > 1 else 1
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.0 * nrow), squeeze=False)
    for ax, (title, ks) in zip(axes.flat, panels):
        ax.set_title(title)
        _line_panel(ax, rows, ks)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"Training: {name}", fontsize=12, fontweight="bold")
    uri = plots.save(fig, f"training_{_safe_name(name)}")
    return [(f"{name}: {', '.join(t for t, _ in panels)} ({len(rows)} logged steps)", uri)]


def plot_safety(models: dict[str, dict[str, Any]], plots: _Plots, tag: str) -> list[tuple[str, str]]:
    plt = _plt()
    import numpy as np

    out = []
    names = list(models)
    # headline bars
    metrics = [
        ("safe_share", "safe answers"),
        ("refusal_rate_harmful", "refusals of harmful"),
        ("over_refusal_benign", "over-refusals of benign"),
    ]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    x = np.arange(len(metrics))
    w = 0.8 / max(1, len(names))
    for j, n in enumerate(names):
        vals = [models[n].get(k) for k, _ in metrics]
        ys = [100 * v if v is not None else 0 for v in vals]
        bars = ax.bar(x + j * w - 0.4 + w / 2, ys, w, label=n, color=PALETTE[j % len(PALETTE)])
        for b, v in zip(bars, vals):
            ax.annotate(
                "n/a" if v is None else f"{100 * v:.0f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                va="bottom", fontsize=8,
            )
    ax.set_xticks(x, [m for _, m in metrics])
    ax.set_ylabel("%")
    ax.set_ylim(0, 110)
    ax.set_title("Safety and refusals", pad=22)
    ax.legend(fontsize=8, ncol=min(4, len(names)), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    out.append(
        (
            "Share of safe answers (cost ≤ threshold), refusal rate on harmful prompts, over-refusal on benign "
            "look-alikes",
            plots.save(fig, f"safety_{tag}"),
        )
    )
    # by category
    cats = sorted({c for m in models.values() for c in (m.get("by_category") or {})})
    if cats:
        fig, ax = plt.subplots(figsize=(min(13.0, max(6.4, 0.28 * len(cats) * max(1, len(names)) + 2)), 3.6))
        x = np.arange(len(cats))
        for j, n in enumerate(names):
            bc = models[n].get("by_category") or {}
            ys = [100 * (bc.get(c, {}).get("safe_share") or 0) for c in cats]
            ax.bar(x + j * w - 0.4 + w / 2, ys, w, label=n, color=PALETTE[j % len(PALETTE)])
        ax.set_xticks(x, [c.replace("_", " ")[:22] for c in cats], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("safe answers (%)")
        ax.set_ylim(0, 105)
        ax.set_title("Safe share by category", pad=22)
        ax.legend(fontsize=8, ncol=min(4, len(names)), loc="lower center", bbox_to_anchor=(0.5, 1.0))
        out.append(("Safe share by prompt category", plots.save(fig, f"safety_by_category_{tag}")))
    # severity
    sev_models = [n for n in names if models[n].get("by_severity")]
    if sev_models:
        from safealign.eval.safety import SEVERITY_ORDER

        colors = {"safe": "#2da44e", "minor": "#d4a72c", "moderate": "#e16f24", "severe": "#cf222e"}
        fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(sev_models) + 1.4))
        left = np.zeros(len(sev_models))
        for s in SEVERITY_ORDER:
            vals = np.array([100 * models[n]["by_severity"].get(s, 0.0) for n in sev_models])
            ax.barh(sev_models, vals, left=left, color=colors[s], label=s)
            left += vals
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of answers (guard severity)")
        ax.set_title("Answers by severity")
        ax.invert_yaxis()
        ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.08))
        out.append(
            (
                "Share of answers at each severity level, as graded by the guard",
                plots.save(fig, f"safety_by_severity_{tag}"),
            )
        )
    return out


def plot_rounds(hists: dict[str, dict[str, int]], plots: _Plots) -> list[tuple[str, str]]:
    if not hists:
        return []
    plt = _plt()
    import numpy as np

    rounds = sorted({int(k) for h in hists.values() for k in h})
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    w = 0.8 / len(hists)
    x = np.arange(len(rounds))
    for j, (name, h) in enumerate(hists.items()):
        tot = sum(h.values()) or 1
        ax.bar(
            x + j * w - 0.4 + w / 2, [100 * h.get(str(r), 0) / tot for r in rounds], w, label=name,
            color=PALETTE[(j + 2) % len(PALETTE)],
        )
    ax.set_xticks(x, [str(r) for r in rounds])
    ax.set_xlabel("regeneration rounds used")
    ax.set_ylabel("% of prompts")
    ax.set_title("Guardrail rounds")
    ax.legend(fontsize=8)
    return [("How many filter-and-regenerate rounds the guardrail used per prompt", plots.save(fig, "guard_rounds"))]


# ------------------------------------------------------------------------------------------------ html pieces
def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if pct:
            return f"{100 * v:.1f}%"
        if isinstance(v, int):
            return str(v)
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return html.escape(str(v))


def _is_pct_key(k: str) -> bool:
    return any(s in k for s in ("share", "rate", "accuracy", "adherence", "agreement", "refusal"))


def _tiles(headline: dict[str, Any]) -> str:
    parts = []
    for k, v in headline.items():
        if isinstance(v, (dict, list)):
            continue
        parts.append(
            f'<div class="tile"><div class="v">{_fmt(v, _is_pct_key(k))}</div><div '
            f'class="k">{html.escape(k.replace("_", " "))}</div></div>'
        )
    return '<div class="tiles">' + "".join(parts) + "</div>"


def _safety_table(models: dict[str, dict[str, Any]]) -> str:
    cols = [
        ("n", "prompts", False), ("independent.harmful_handled_safely", "harmful handled safely", True),
        ("refusal_rate_harmful", "refuses harmful", True), ("independent.harmful_guard_safe", "guard: safe (harmful)",
                                                           True),
        ("over_refusal_benign", "over-refuses benign", True),
        ("independent.lookalike_over_refused", "over-refuses look-alike", True),
        ("mean_reward_benign", "reward (benign)", False), ("safe_share", "safe by cost (as optimised)", True),
        ("safe_share_harmful", "safe by cost (harmful)", True), ("mean_cost", "mean cost", False),
        ("guard_rounds_mean", "guard rounds", False),
    ]
    models = {n: {**m, **{f"independent.{k}": v for k, v in (m.get("independent") or {}).items()}}
              for n, m in models.items()}
    cols = [c for c in cols if any(m.get(c[0]) is not None for m in models.values())]
    head = "<tr><th>model</th>" + "".join(f'<th class="num">{html.escape(t)}</th>' for _, t, _ in cols) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(n)}</td>"
        + "".join(f'<td class="num">{_fmt(m.get(k), p)}</td>' for k, _, p in cols)
        + "</tr>"
        for n, m in models.items()
    )
    return f"<table>{head}{body}</table>"


def arena_html(d: dict[str, Any]) -> str:
    cells = {(c["a"], c["b"]): c for c in d["cells"]}

    def cell(a: str, b: str) -> str:
        c = cells[(a, b)]
        wr = "–" if c.get("win_rate") is None else f"{100 * c['win_rate']:.0f}%"
        share = "" if c.get("share") is None else f"{100 * c['share']:.0f}% of prompts"
        return f'<td class="cell"><b>{wr}</b><small>n={c["n"]} · {share}</small></td>'

    a, b = html.escape(d["model_a"]), html.escape(d["model_b"])
    out = (
        f'<table class="arena"><tr><th></th><th>{b} safe</th><th>{b} unsafe</th></tr>'
        f"<tr><th>{a} safe</th>{cell('safe', 'safe')}{cell('safe', 'unsafe')}</tr>"
        f"<tr><th>{a} unsafe</th>{cell('unsafe', 'safe')}{cell('unsafe', 'unsafe')}</tr></table>"
        f"<p class=\"muted\">Each cell: share of prompts where <b>{a}</b>'s reward beats <b>{b}</b>'s, among the "
        "prompts in that cell "
        + ("(safe: harmful prompts handled safely by the refusal detector and the guard, and no answer the guard "
           "flags). " if d.get("safe_by") == "independent" else
           f"(safe ⇔ cost ≤ {d.get('threshold', 0)}, as optimised for a policy trained against that cost model). ")
        + f"Overall reward win rate of {a}: "
        f"{_fmt(d.get('reward_win_rate_a'), True)}; "
        f"safe: {a} {_fmt(d.get('safe_rate_a'), True)}, {b} {_fmt(d.get('safe_rate_b'), True)}.</p>"
    )
    j = d.get("judge")
    if j:
        out += (
            f"<p>LLM judge (both orders): {a} wins {_fmt(j.get('win_rate'), True)}, ties "
            f"{_fmt(j.get('tie_rate'), True)}, "
            f"loses {_fmt(j.get('loss_rate'), True)} (n={j.get('n')}, inconsistent orders counted as ties: "
            f"{j.get('inconsistent')}).</p>"
        )
    return out


def _badge(row: dict[str, Any]) -> str:
    out = []
    if row.get("safe") is True:
        out.append('<span class="badge b-ok">safe</span>')
    elif row.get("safe") is False:
        out.append('<span class="badge b-bad">unsafe</span>')
    if row.get("refusal") == "refusal":
        out.append('<span class="badge b-ref">refusal</span>')
    nums = []
    if row.get("cost") is not None:
        nums.append(f"cost {row['cost']:+.2f}")
    if row.get("reward") is not None:
        nums.append(f"reward {row['reward']:+.2f}")
    rounds = (row.get("extra") or {}).get("rounds")
    if rounds:
        nums.append(f"{rounds} guard round(s)")
    return " ".join(out) + (f' <span class="muted">{html.escape(" · ".join(nums))}</span>' if nums else "")


def pick_examples(rows: list[dict[str, Any]], k: int = 6) -> list[list[dict[str, Any]]]:
    """Up to ``k`` prompts answered by every model: prompts where the models disagree on safety first, harmful first."""
    by_prompt: dict[Any, list[dict[str, Any]]] = {}
    models: list[str] = []
    for r in rows:
        by_prompt.setdefault(r.get("index", r.get("id")), []).append(r)
        if r["model"] not in models:
            models.append(r["model"])
    groups = [g for g in by_prompt.values() if len({r["model"] for r in g}) == len(models)]
    groups = [sorted(g, key=lambda r: models.index(r["model"])) for g in groups]

    def key(g: list[dict[str, Any]]) -> tuple:
        disagree = len({r.get("safe") for r in g}) > 1
        return (not disagree, g[0].get("label") != "harmful", g[0].get("index", 0))

    groups.sort(key=key)
    # a mix: mostly harmful, but keep at least one benign example when there is one
    chosen = groups[: max(0, k - 1)]
    benign = [g for g in groups[len(chosen) :] if g[0].get("label") == "benign"]
    if benign and not any(g[0].get("label") == "benign" for g in chosen):
        chosen.append(benign[0])
    elif len(groups) > len(chosen):
        chosen.append(groups[len(chosen)])
    return chosen[:k]


def examples_html(groups: list[list[dict[str, Any]]], max_chars: int = 700) -> str:
    parts = []
    for g in groups:
        first = g[0]
        meta = " · ".join(x for x in (first.get("label"), first.get("category")) if x)
        cols = "".join(
            f'<div class="col"><div class="who"><b>{html.escape(r["model"])}</b> {_badge(r)}</div>'
            f'<div class="a">{html.escape(_clip(r.get("response") or "(empty)", max_chars))}</div></div>'
            for r in g
        )
        img = " 🖼" if first.get("has_image") else ""
        parts.append(
            f'<div class="ex"><div class="p">{html.escape(_clip(first["prompt"], 400))}{img} <span '
            f'class="muted">({html.escape(meta)})</span></div><div class="cols">{cols}</div></div>'
        )
    return "".join(parts)


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def stages_html(stages: list[dict[str, Any]]) -> str:
    rows = []
    for s in stages:
        st = s.get("status", "?")
        cls = {"ok": "b-ok", "failed": "b-bad"}.get(st, "b-skip")
        secs = s.get("seconds")
        rows.append(
            f'<tr><td>{html.escape(str(s.get("name")))}</td><td><span class="badge {cls}">{html.escape(st)}</span></td>'
            f'<td class="num">{"" if secs is None else f"{secs:.1f} s"}</td>'
            f'<td>{html.escape(str(s.get("detail") or ""))}</td></tr>'
        )
    return (
        '<table><tr><th>stage</th><th>status</th><th class="num">time</th><th>detail</th></tr>'
        + "".join(rows)
        + "</table>"
    )


# ------------------------------------------------------------------------------------------------ main entry
def build_report(run_dir: str | Path, title: Optional[str] = None, max_examples: int = 6) -> ReportResult:
    """Write ``RUN_DIR/report.html``, ``RUN_DIR/plots/*.png`` and ``RUN_DIR/summary.json`` (merged with what is
    there)."""
    root = Path(run_dir)
    if not root.is_dir():
        raise DataError("run folder not found", file=str(root))
    summary_path = root / "summary.json"
    summary: dict[str, Any] = _read_json(summary_path) if summary_path.exists() else {}
    plots = _Plots(root / "plots")
    sections: list[tuple[str, str, str]] = []  # (id, title, html)

    headline: dict[str, Any] = dict(summary.get("headline") or {})
    auto_headline = not headline  # a run without its own headline numbers gets them from the safety results

    # stages
    stages = summary.get("stages") or []
    if stages:
        sections.append(("stages", "Stages", stages_html(stages)))

    # safety (before / after)
    safety_files = _visible(root.rglob("safety_summary.json"), root)
    safety_all: dict[str, Any] = {}
    rounds_hists: dict[str, dict[str, int]] = {}
    example_html = ""
    for i, p in enumerate(safety_files):
        data = _read_json(p)
        models = data.get("models") or {}
        if not models:
            continue
        label = _label(p, root)
        safety_all[label] = models
        figs = plot_safety(models, plots, _safe_name(label))
        for n, m in models.items():
            if m.get("guard_rounds_hist"):
                rounds_hists[n] = m["guard_rounds_hist"]
            if auto_headline:
                for k in ("safe_share", "mean_reward_benign", "refusal_rate_harmful", "over_refusal_benign"):
                    headline.setdefault(f"{_safe_name(n)}_{k}", m.get(k))
        body = (
            f'<p class="muted">Source: <code>{html.escape(str(p.relative_to(root)))}</code>. Harmful prompts handled '
            "safely: the refusal detector (phrase rules) sees a refusal and the guard does not flag the answer; "
            f"\"safe by cost\" ⇔ cost ≤ {data.get('threshold', 0)} (guard verdict when no cost model), as optimised "
            "for a policy trained against that cost model.</p>"
            + _safety_table(models)
            + _figures(figs, wide_captions=("Safe share by prompt category",))
        )
        sections.append(
            (f"safety-{i}", "Safety before / after" + ("" if len(safety_files) == 1 else f" ({label})"), body)
        )
        answers = p.parent / "safety_answers.jsonl"
        if answers.exists() and not example_html:
            example_html = examples_html(pick_examples(_rows_of(answers), max_examples))

    # arena
    arena_files = _visible(root.rglob("arena.json"), root)
    arena_all = {}
    for p in arena_files:
        d = _read_json(p)
        if "cells" not in d:
            continue
        arena_all[_label(p, root)] = d
        if auto_headline:
            headline.setdefault("arena_reward_win_rate", d.get("reward_win_rate_a"))
        sections.append((f"arena-{len(arena_all)}", f"Arena: {d['model_a']} vs {d['model_b']}", arena_html(d)))

    # pluralistic trade-off (safealign eval tradeoff / bench_pluralistic.py)
    for i, p in enumerate(_visible(root.rglob("tradeoff.json"), root)):
        from safealign.pluralistic.tradeoff import load_tradeoff

        try:
            points = load_tradeoff(p)
        except Exception as e:  # a malformed file must not take the whole report down
            sections.append(
                (
                    f"tradeoff-{i}",
                    f"Pluralistic trade-off ({_label(p, root)})",
                    f"<p>unreadable: {html.escape(str(e))}</p>",
                )
            )
            continue
        if points:
            sections.append(
                (
                    f"tradeoff-{i}",
                    "Pluralistic trade-off: adherence vs safety under attacks",
                    tradeoff_html(points, plots, f"tradeoff-{i}"),
                )
            )

    # guard rounds (decision logs too)
    for p in _visible(root.rglob("decisions.jsonl"), root):
        hist: dict[str, int] = {}
        for r in _rows_of(p):
            if "rounds" in r:
                hist[str(int(r["rounds"]))] = hist.get(str(int(r["rounds"])), 0) + 1
        if hist:
            rounds_hists[_label(p, root)] = dict(sorted(hist.items(), key=lambda kv: int(kv[0])))
    if rounds_hists:
        table = (
            "<table><tr><th>source</th><th>rounds: prompts</th></tr>"
            + "".join(
                f"<tr><td>{html.escape(n)}</td>"
                f"<td>{html.escape(', '.join(f'{k}: {v}' for k, v in h.items()))}</td></tr>"
                for n, h in rounds_hists.items()
            )
            + "</table>"
        )
        sections.append(("guard", "Guardrail rounds used", table + _figures(plot_rounds(rounds_hists, plots))))

    # training curves
    metrics = find_metrics(root)
    train_figs: list[tuple[str, str]] = []
    finals: dict[str, dict[str, Any]] = {}
    for name, rows in metrics.items():
        train_figs += plot_training(name, rows, plots)
        last = rows[-1]
        finals[name] = {k: last[k] for k in _numeric_keys(rows) if k in last}
    if train_figs:
        sections.insert(1 if stages else 0, ("training", "Training curves", _figures(train_figs, wide=True)))

    if example_html:
        sections.append(("examples", "Example answers before / after", example_html))

    # first: did alignment help? (independent judges, base vs aligned vs aligned+guard), then the recipe's rounds
    first: list[tuple[str, str, str]] = []
    compared = [(label, models) for label, models in safety_all.items() if len(models) >= 2]
    if compared:
        from safealign.eval.verdict import alignment_verdict, verdict_html

        label, models = compared[0]
        answer = verdict_html(models, plots, f"{label}/safety_summary.json")
        if answer:
            first.append(("verdict", "Did alignment help?", answer))
            summary["verdict"] = alignment_verdict(models)
    for p in _visible(root.rglob("rounds.json"), root):
        rows = _read_json(p)
        if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "round" in rows[0]:
            from safealign.eval.verdict import rounds_html

            first.append((f"rounds-{len(first)}", "Safe RLHF rounds", rounds_html(rows)))
            summary.setdefault("rounds", rows)
    sections = first + sections

    # write
    title = title or summary.get("title") or f"safealign run: {root.resolve().name}"
    top = ('<section id="headline"><h2>Headline numbers</h2>' + _tiles(headline) + "</section>") if headline else ""
    if first:  # the answer comes before the tiles
        body_first = "".join(f'<section id="{sid}"><h2>{html.escape(t)}</h2>{h}</section>' for sid, t, h in first)
        top, sections = body_first + top, sections[len(first):]
    if not sections and not headline:
        top = ("<section><h2>Nothing to report yet</h2><p>No metrics, safety results or arena tables were found in "
               "this folder.</p></section>")
    body = top + "".join(f'<section id="{sid}"><h2>{html.escape(t)}</h2>{h}</section>' for sid, t, h in sections)
    nav = "".join(
        f'<a href="#{sid}">{html.escape(t.split(" (")[0])}</a>'
        for sid, t, _ in first + ([("headline", "Headline", "")] if headline else []) + sections
    )
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    subtitle = html.escape(summary.get("subtitle") or f"run folder {root.resolve()}")
    page = Template((Path(__file__).with_name("report_template.html")).read_text(encoding="utf-8")).safe_substitute(
        title=html.escape(title), subtitle=subtitle, nav=nav, body=body, generated=now
    )
    html_path = root / "report.html"
    atomic_write_text(html_path, page)

    summary["headline"] = headline
    summary["safety"] = safety_all
    summary["arena"] = arena_all
    summary["training_final"] = finals
    summary["guard_rounds"] = rounds_hists
    summary["report"] = {"html": str(html_path), "plots": [str(p) for p in plots.paths], "generated": now}
    atomic_write_json(summary_path, summary)
    return ReportResult(html_path, summary_path, plots.paths, [t for _, t, _ in first + sections])

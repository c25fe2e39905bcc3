"""Janus data at breadth: system messages composed from the constraint families, answers verified by the checkers.

For item ``i`` (deterministic in (seed, i)): an instruction, and a system message of 1-3 compatible constraints from
the *training* side of the generalisation splits (:mod:`safealign.janus.generalisation`), in one of their training
phrasings, with a stylistic (rubric-only) preference now and then. The teacher answers it ``best_of`` times:

- **chosen**: a sampled answer that meets every constraint (``chosen_source: model``); when none does, the closest
  one repaired by :func:`safealign.janus.construct.repair` and re-checked (``repair``); when that fails too, the item
  is dropped (counted per family).
- **rejected** (DPO/ORPO): an answer that breaks exactly one constraint and meets the others: a sampled one when the
  teacher produced one (``rejected_source: model``), else an edit of the chosen answer (``edit``); no pair otherwise.

Rows (Multifaceted-Collection schemas, plus ``id``, ``constraints``, ``phrasing_ids`` and the sources) go to
``sft.jsonl`` / ``dpo.jsonl``; an item whose (system, instruction) was already written is skipped (deduplicated).
Resumable: after each chunk both files and ``state.json`` (done items and running counts) are rewritten atomically;
rows of items not recorded as done are dropped on restart. ``summary.json`` holds the statistics.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from safealign.backends.base import Backend, GenerationParams
from safealign.config import BaseConfig, help_field
from safealign.errors import ConfigError
from safealign.janus.construct import break_one, failing_indices, repair
from safealign.janus.families import load_stylistic, sample_system
from safealign.janus.generalisation import Splits, make_splits
from safealign.utils.atomic import atomic_write_json, atomic_write_text
from safealign.utils.jsonl import read_jsonl

SFT_FILE, DPO_FILE, STATE_FILE, SUMMARY_FILE = "sft.jsonl", "dpo.jsonl", "state.json", "summary.json"


@dataclass
class BreadthConfig(BaseConfig):
    """Synthesize system-message data from the constraint families: best-of-n answers checked by code (resumable)."""

    instructions: str = help_field("", "Instructions: .txt (one per line), .json/.jsonl/.csv (field 'instruction').")
    output_dir: str = help_field("runs/janus-breadth", "Folder for sft.jsonl, dpo.jsonl, state.json, summary.json.")
    n_items: int = help_field(1000, "System messages (one instruction each) to synthesize.")
    best_of: int = help_field(4, "Teacher answers sampled per system message; the first meeting every constraint wins.")
    min_constraints: int = help_field(1, "Fewest constraints per system message.")
    max_constraints: int = help_field(3, "Most constraints per system message.")
    stylistic_prob: float = help_field(0.5, "Chance a message also states a stylistic (rubric-only) preference.")
    repair: bool = help_field(True, "Repair the closest answer by deterministic edits when no sample passes.")
    split_seed: int = help_field(0, "Seed of the generalisation splits (held-out families, phrasings, pairs).")
    held_out_families: float = help_field(0.25, "Fraction of families held out of training (whole groups).")
    held_out_phrasings: float = help_field(0.2, "Fraction of each training family's phrasings held out.")
    held_out_pairs: float = help_field(0.2, "Fraction of compatible training-family pairs never combined in training.")
    teacher: str = help_field("default", "Teacher: 'default', a hub id or a path; the model name with --teacher-url.")
    teacher_url: Optional[str] = help_field(None, "Base URL of an OpenAI-compatible teacher endpoint.")
    api_key_env: str = help_field("OPENAI_API_KEY", "Environment variable holding the endpoint's API key.")
    instruction_field: Optional[str] = help_field(None, "Field holding the instruction in JSON/JSONL/CSV input.")
    seed: int = help_field(0, "Seed of message sampling and teacher sampling.")
    max_new_tokens: int = help_field(160, "Teacher answer length limit (tokens).")
    temperature: float = help_field(0.8, "Teacher sampling temperature (> 0 so that best-of-n differs).")
    chunk_size: int = help_field(8, "System messages per teacher call (x best_of chats); a resume point each.")
    batch_size: int = help_field(8, "Local teacher batch size.")
    concurrency: int = help_field(8, "Requests in flight to an OpenAI-compatible teacher.")
    source: str = help_field("safealign-breadth", "Value of main_source in the output rows.")

    def validate(self) -> None:
        if not self.instructions:
            raise ConfigError("--instructions is required (a .txt/.json/.jsonl/.csv file of instructions)")
        if self.best_of < 1 or self.n_items < 1 or self.chunk_size < 1:
            raise ConfigError("--best-of, --n-items and --chunk-size must be >= 1")
        if not 1 <= self.min_constraints <= self.max_constraints <= 3:
            raise ConfigError("need 1 <= --min-constraints <= --max-constraints <= 3")


@dataclass
class Item:
    key: str
    system: str
    prompt: str
    constraints: list[dict[str, Any]]
    phrasing_ids: list[str]
    stylistic: list[str]


def _rng(seed: int, label: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}|{label}".encode()).digest()[:8], "big"))


def plan_item(i: int, instructions: list[str], splits: Splits, cfg: BreadthConfig, stylistic: list) -> Item:
    """Item ``i``: deterministic in (cfg.seed, i, the instructions, the splits)."""
    rng = _rng(cfg.seed, f"item{i}")
    prompt = instructions[rng.randrange(len(instructions))]
    s = sample_system(
        rng, (cfg.min_constraints, cfg.max_constraints), stylistic=stylistic, stylistic_prob=cfg.stylistic_prob,
        **splits.train_sampler_kwargs(),
    )
    key = hashlib.sha256(f"{s.text}\x00{prompt}".encode()).hexdigest()[:16]
    return Item(key, s.text, prompt, s.constraints, s.phrasing_ids, s.stylistic)


def choose(item: Item, candidates: list[str], use_repair: bool, rng: random.Random) -> dict[str, Any]:
    """The chosen and rejected answers of one item from its sampled candidates (see the module docstring)."""
    cons = item.constraints
    fails = [failing_indices(a, cons) for a in candidates]
    out: dict[str, Any] = {"candidate_fails": fails}
    chosen = next((a for a, f in zip(candidates, fails) if not f and a.strip()), None)
    out["chosen_source"] = "model" if chosen is not None else None
    if chosen is None and use_repair:
        for a, _ in sorted(zip(candidates, fails), key=lambda af: len(af[1])):
            chosen = repair(a, cons)
            if chosen is not None and chosen.strip():
                out["chosen_source"] = "repair"
                break
            chosen = None
    out["chosen"] = chosen
    if chosen is None:
        return out
    single = [(a, f[0]) for a, f in zip(candidates, fails) if len(f) == 1 and a.strip()]
    if single:
        out["rejected"], out["broken"], out["rejected_source"] = single[0][0], single[0][1], "model"
        return out
    targets = list(range(len(cons)))
    rng.shuffle(targets)
    for t in targets:
        r = break_one(chosen, cons, t)
        if r is not None:
            out["rejected"], out["broken"], out["rejected_source"] = r, t, "edit"
            break
    return out


def _load_state(out: Path) -> dict[str, Any]:
    p = out / STATE_FILE
    if not p.exists():
        return {"done": [], "counts": {}, "family": {}, "combos": [], "phrasings": []}
    return json.loads(p.read_text(encoding="utf-8"))


def _rows(path: Path, done: set[str]) -> list[str]:
    """Lines of rows whose item is recorded as done (an interrupted chunk's rows are dropped)."""
    if not path.exists():
        return []
    return [json.dumps(r, ensure_ascii=False) for r in read_jsonl(path, torn_tail=True) if r.get("id") in done]


def _messages(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"content": prompt, "role": "user"}, {"content": answer, "role": "assistant"}]


def _pct(a: int, b: int) -> float:
    return round(100.0 * a / b, 2) if b else 0.0


def synthesize_breadth(
    instructions: list[str],
    teacher: Backend,
    cfg: BreadthConfig,
    original_source: str = "instructions",
    progress: Optional[Callable[[int], None]] = None,
) -> dict[str, Any]:
    """Run (or resume) the synthesis of ``cfg.n_items`` items; returns the summary (also in ``summary.json``)."""
    if not instructions:
        raise ConfigError("no instructions to synthesize from")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = make_splits(cfg.split_seed, cfg.held_out_families, cfg.held_out_phrasings, cfg.held_out_pairs)
    stylistic = load_stylistic()
    state = _load_state(out)
    done = set(state["done"])
    sft, dpo = _rows(out / SFT_FILE, done), _rows(out / DPO_FILE, done)
    counts, fam = Counter(state["counts"]), {k: Counter(v) for k, v in state["family"].items()}
    combos, phrasings = set(state["combos"]), set(state["phrasings"])
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed)
    todo = [i for i in range(cfg.n_items) if f"item{i}" not in done]
    if progress:
        progress(cfg.n_items - len(todo))
    seen = {json.loads(line)["key"] for line in sft}
    for start in range(0, len(todo), cfg.chunk_size):
        chunk = todo[start : start + cfg.chunk_size]
        items = [plan_item(i, instructions, splits, cfg, stylistic) for i in chunk]
        fresh = [(i, it) for i, it in zip(chunk, items) if it.key not in seen]
        counts["duplicates_skipped"] += len(items) - len(fresh)
        chats = [
            [{"role": "system", "content": it.system}, {"role": "user", "content": it.prompt}]
            for _, it in fresh
            for _ in range(cfg.best_of)
        ]
        answers = teacher.generate(chats, params) if chats else []
        for n, (i, it) in enumerate(fresh):
            seen.add(it.key)
            res = choose(it, answers[n * cfg.best_of : (n + 1) * cfg.best_of], cfg.repair, _rng(cfg.seed, f"rej{i}"))
            _count(counts, fam, it, res)
            if res["chosen"] is None:
                continue
            combos.add("+".join(sorted(c["type"] for c in it.constraints)))
            phrasings.update(it.phrasing_ids)
            base = {
                "main_source": cfg.source, "original_source": original_source, "id": f"item{i}", "key": it.key,
                "system": it.system, "prompt": it.prompt, "constraints": it.constraints,
                "phrasing_ids": it.phrasing_ids, "stylistic": it.stylistic, "chosen_source": res["chosen_source"],
            }
            sft.append(json.dumps({**base, "output": res["chosen"]}, ensure_ascii=False))
            if "rejected" in res:
                row = {**base, "chosen": _messages(it.prompt, res["chosen"]),
                       "rejected": _messages(it.prompt, res["rejected"]),
                       "broken": it.constraints[res["broken"]]["type"], "rejected_source": res["rejected_source"]}
                dpo.append(json.dumps(row, ensure_ascii=False))
        done.update(f"item{i}" for i in chunk)
        atomic_write_text(out / SFT_FILE, "".join(line + "\n" for line in sft))
        atomic_write_text(out / DPO_FILE, "".join(line + "\n" for line in dpo))
        atomic_write_json(out / STATE_FILE, {
            "done": sorted(done), "counts": dict(counts), "family": {k: dict(v) for k, v in fam.items()},
            "combos": sorted(combos), "phrasings": sorted(phrasings),
        })
        if progress:
            progress(len(chunk))
    summary = _summary(counts, fam, combos, phrasings, splits, len(sft), len(dpo), out)
    atomic_write_json(out / SUMMARY_FILE, summary)
    return summary


def _count(counts: Counter, fam: dict[str, Counter], it: Item, res: dict[str, Any]) -> None:
    counts["items"] += 1
    counts["candidates"] += len(res["candidate_fails"])
    counts["candidates_passing"] += sum(not f for f in res["candidate_fails"])
    counts[f"chosen_{res['chosen_source'] or 'dropped'}"] += 1
    if res["chosen"] is not None:
        counts[f"rejected_{res.get('rejected_source', 'none')}"] += 1
    counts[f"constraints_{len(it.constraints)}"] += 1
    counts["with_stylistic"] += bool(it.stylistic)
    for k, c in enumerate(it.constraints):
        f = fam.setdefault(c["type"], Counter())
        f["items"] += 1
        f["candidate_checks"] += len(res["candidate_fails"])
        f["candidate_passes"] += sum(k not in fl for fl in res["candidate_fails"])
        f[f"chosen_{res['chosen_source'] or 'dropped'}"] += 1


def _summary(counts, fam, combos, phrasings, splits: Splits, n_sft: int, n_dpo: int, out: Path) -> dict[str, Any]:
    n = counts["items"]
    return {
        "items": n,
        "duplicates_skipped": counts["duplicates_skipped"],
        "sft_rows": n_sft,
        "dpo_pairs": n_dpo,
        "chosen": {src: counts[f"chosen_{src}"] for src in ("model", "repair", "dropped")},
        "acceptance_rate_model": _pct(counts["chosen_model"], n),
        "acceptance_rate_with_repair": _pct(counts["chosen_model"] + counts["chosen_repair"], n),
        "candidate_pass_rate": _pct(counts["candidates_passing"], counts["candidates"]),
        "rejected": {src: counts[f"rejected_{src}"] for src in ("model", "edit", "none")},
        "constraints_per_message": {k: counts[f"constraints_{k}"] for k in (1, 2, 3)},
        "with_stylistic": counts["with_stylistic"],
        "families_used": len(fam),
        "phrasings_used": len(phrasings),
        "combinations_used": len(combos),
        "per_family": {
            name: {
                "items": f["items"],
                "candidate_pass_rate": _pct(f["candidate_passes"], f["candidate_checks"]),
                "chosen_model": f["chosen_model"],
                "chosen_repair": f["chosen_repair"],
                "dropped": f["chosen_dropped"],
            }
            for name, f in sorted(fam.items())
        },
        "splits": splits.summary(),
        "output_dir": str(out),
    }


def run_breadth(cfg: BreadthConfig) -> dict[str, Any]:
    """CLI entry: load instructions and the teacher, run with a progress bar."""
    from safealign.backends.openai_compat import make_backend
    from safealign.janus.data import load_instructions
    from safealign.janus.synthesize import dedup_instructions
    from safealign.ui import progress_bar

    cfg.validate()
    instructions = dedup_instructions(load_instructions(cfg.instructions, cfg.instruction_field))
    teacher = make_backend(cfg.teacher, cfg.teacher_url, os.environ.get(cfg.api_key_env), cfg.concurrency,
                           batch_size=cfg.batch_size)
    with progress_bar(cfg.n_items, "synthesize breadth") as advance:
        return synthesize_breadth(instructions, teacher, cfg, Path(cfg.instructions).stem, progress=advance)

"""The Janus data pipeline: instructions -> preference sets -> system messages -> teacher gold answers -> SFT rows
and DPO pairs, in the Multifaceted-Collection schemas.

For each (deduplicated) instruction we sample ``n_systems`` preference sets (one preference per dimension), verbalise
each into a distinct system message, ask the teacher for the gold answer to (system, instruction), and write

- ``sft.jsonl``  {main_source, original_source, preference_set, system, prompt, output[, constraints]}
- ``dpo.jsonl``  {main_source, original_source, system, prompt, chosen, rejected[, constraints]} where ``rejected`` is
  the gold answer written for ANOTHER system message of the same instruction (a mismatch, not a bad answer).

Resumable: the plan for an instruction depends only on (seed, instruction), rows of an instruction are appended
together, and its key goes to ``done.txt`` afterwards. On restart, rows of instructions not in ``done.txt`` (an
interrupted group) are dropped, finished instructions are skipped: no duplicates, no losses.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from safealign.backends.base import Backend, GenerationConfig
from safealign.config import help_field
from safealign.data.records import Preference
from safealign.janus.data import normalise_instruction
from safealign.janus.taxonomy import Taxonomy, load_taxonomy, verbalize
from safealign.ui import progress_bar
from safealign.utils.atomic import atomic_write_json, atomic_write_text

SFT_FILE, DPO_FILE, DONE_FILE = "sft.jsonl", "dpo.jsonl", "done.txt"


@dataclass
class SynthesisConfig(GenerationConfig):
    """Synthesize system-message data (Janus): preference sets -> system messages -> teacher answers -> SFT + DPO."""

    instructions: str = help_field(
        "", "Instructions: .txt (one per line), .json/.jsonl/.csv (field 'instruction'/'prompt'/...)."
    )
    output_dir: str = help_field("runs/janus-data", "Folder for sft.jsonl, dpo.jsonl, done.txt, summary.json.")
    teacher: str = help_field(
        "default", "Teacher model: 'default', a hub id or a path; the model name when --teacher-url is set."
    )
    teacher_url: Optional[str] = help_field(
        None, "Base URL of an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1)."
    )
    api_key_env: str = help_field("OPENAI_API_KEY", "Environment variable holding the endpoint's API key.")
    systems_per_instruction: int = help_field(
        3, "System messages (preference sets) per instruction (the paper uses 3)."
    )
    constraints: bool = help_field(
        True, "State the checkable constraints of the sampled preferences in the system message."
    )
    taxonomy: list[str] = help_field([], "Extra taxonomy YAML files extending the built-in one (comma-separated).")
    instruction_field: Optional[str] = help_field(None, "Field holding the instruction in JSON/JSONL/CSV input.")
    max_instructions: Optional[int] = help_field(None, "Use only the first N unique instructions.")
    seed: int = help_field(0, "Seed of preference sampling and verbalisation, and of the teacher's sampling.")
    max_new_tokens: int = help_field(256, "Teacher answer length limit (tokens).", min=1)
    temperature: float = help_field(0.7, "Teacher sampling temperature (0 = greedy).", min=0.0)
    chunk_size: int = help_field(8, "Instructions sent to the teacher per call (x systems per instruction chats).")
    batch_size: int = help_field(8, "Local teacher batch size.", min=1)
    concurrency: int = help_field(8, "Requests in flight to an OpenAI-compatible teacher.")
    max_retries: int = help_field(5, "Retries per request (backoff with jitter) for an OpenAI-compatible teacher.")
    requests_per_second: float = help_field(0.0, "Rate limit for an OpenAI-compatible teacher (0 = none).")
    source: str = help_field("safealign", "Value of main_source in the output rows.")


@dataclass
class PlannedSystem:
    preference_set: list[Preference]
    system: str
    constraints: list[dict[str, Any]]


def _rng_for(seed: int, instruction: str) -> random.Random:
    h = hashlib.sha256(f"{seed}|{normalise_instruction(instruction)}".encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


def instruction_key(instruction: str) -> str:
    return hashlib.sha256(normalise_instruction(instruction).encode()).hexdigest()[:16]


def plan_systems(
    instruction: str, taxonomy: Taxonomy, n: int, seed: int = 0, with_constraints: bool = True, max_tries: int = 100
) -> list[PlannedSystem]:
    """``n`` distinct system messages for one instruction, deterministic in (seed, instruction)."""
    rng = _rng_for(seed, instruction)
    out: list[PlannedSystem] = []
    seen: set[str] = set()
    for _ in range(max_tries * n):
        if len(out) == n:
            break
        prefs = taxonomy.sample_preference_set(rng, with_constraints=True if with_constraints else None)
        cons = taxonomy.constraints_for(prefs) if with_constraints else []
        system = verbalize(prefs, seed, cons)
        if system in seen:
            continue
        seen.add(system)
        out.append(PlannedSystem(prefs, system, cons))
    return out


def pick_rejected(k: int, n: int, rng: random.Random) -> int:
    """Index of the other system message whose gold answer is the rejected answer for system ``k``."""
    return rng.choice([j for j in range(n) if j != k])


def dedup_instructions(instructions: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for ins in instructions:
        key = normalise_instruction(ins)
        if key and key not in seen:
            seen.add(key)
            out.append(ins.strip())
    return out


def _read_done(out: Path) -> set[str]:
    p = out / DONE_FILE
    return set(p.read_text(encoding="utf-8").split()) if p.exists() else set()


def _clean_partial(path: Path, done: set[str]) -> int:
    """Drop rows of unfinished instructions and a torn last line; returns the number of rows dropped."""
    if not path.exists():
        return 0
    keep, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            dropped += 1
            continue
        if instruction_key(row.get("prompt", "")) in done:
            keep.append(line)
        else:
            dropped += 1
    if dropped:
        atomic_write_text(path, "".join(ln + "\n" for ln in keep))
    return dropped


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(ln + "\n" for ln in lines))
        f.flush()
        os.fsync(f.fileno())


def _pref_dicts(prefs: list[Preference]) -> list[dict[str, str]]:
    return [asdict(p) for p in prefs]


def synthesize(
    instructions: list[str],
    teacher: Backend,
    output_dir: str | Path,
    taxonomy: Optional[Taxonomy] = None,
    n_systems: int = 3,
    seed: int = 0,
    with_constraints: bool = True,
    params: Optional[GenerationConfig] = None,
    chunk_size: int = 8,
    source: str = "safealign",
    original_source: str = "instructions",
    progress: Optional[Callable[[int], None]] = None,
) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns a summary dict (also written to ``summary.json``)."""
    if n_systems < 2:
        raise ValueError("systems_per_instruction must be >= 2 to build DPO pairs")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    taxonomy = taxonomy or load_taxonomy()
    params = params or SynthesisConfig().generation()
    unique = dedup_instructions(instructions)
    done = _read_done(out)
    dropped = _clean_partial(out / SFT_FILE, done) + _clean_partial(out / DPO_FILE, done)
    todo = [ins for ins in unique if instruction_key(ins) not in done]
    already = len(unique) - len(todo)
    if progress:
        progress(already)
    n_sft = n_dpo = skipped_pairs = 0
    for start in range(0, len(todo), max(1, chunk_size)):
        chunk = todo[start : start + chunk_size]
        plans = [plan_systems(ins, taxonomy, n_systems, seed, with_constraints) for ins in chunk]
        chats = [
            [{"role": "system", "content": s.system}, {"role": "user", "content": ins}]
            for ins, plan in zip(chunk, plans)
            for s in plan
        ]
        answers = iter(teacher.generate(chats, params))
        for ins, plan in zip(chunk, plans):
            golds = [next(answers) for _ in plan]
            sft_lines, dpo_lines = [], []
            rng = _rng_for(seed + 1, ins)
            for k, (s, gold) in enumerate(zip(plan, golds)):
                extra = {"constraints": s.constraints} if with_constraints else {}
                sft_lines.append(
                    json.dumps(
                        {
                            "main_source": source,
                            "original_source": original_source,
                            "preference_set": _pref_dicts(s.preference_set),
                            "system": s.system,
                            "prompt": ins,
                            "output": gold,
                            **extra,
                        },
                        ensure_ascii=False,
                    )
                )
                if len(plan) < 2:
                    continue
                j = pick_rejected(k, len(plan), rng)
                if not gold.strip() or golds[j].strip() == gold.strip():
                    skipped_pairs += 1  # identical answers make no preference
                    continue
                dpo_lines.append(
                    json.dumps(
                        {
                            "main_source": source,
                            "original_source": original_source,
                            "system": s.system,
                            "prompt": ins,
                            "chosen": [{"content": ins, "role": "user"}, {"content": gold, "role": "assistant"}],
                            "rejected": [{"content": ins, "role": "user"}, {"content": golds[j], "role": "assistant"}],
                            **extra,
                        },
                        ensure_ascii=False,
                    )
                )
            _append(out / SFT_FILE, sft_lines)
            _append(out / DPO_FILE, dpo_lines)
            _append(out / DONE_FILE, [instruction_key(ins)])
            n_sft += len(sft_lines)
            n_dpo += len(dpo_lines)
            if progress:
                progress(1)
    summary = {
        "instructions_in": len(instructions),
        "unique_instructions": len(unique),
        "duplicates_dropped": len(instructions) - len(unique),
        "resumed_instructions": already,
        "partial_rows_dropped": dropped,
        "new_sft_rows": n_sft,
        "new_dpo_rows": n_dpo,
        "pairs_skipped_identical": skipped_pairs,
        "total_sft_rows": _count(out / SFT_FILE),
        "total_dpo_rows": _count(out / DPO_FILE),
        "output_dir": str(out),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def _count(path: Path) -> int:
    return sum(1 for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()) if path.exists() else 0


def run_synthesis(cfg: SynthesisConfig) -> dict[str, Any]:
    """CLI entry: load instructions and the teacher, run with a progress bar."""
    from safealign.backends.openai_compat import make_backend
    from safealign.errors import ConfigError
    from safealign.janus.data import load_instructions

    if not cfg.instructions:
        raise ConfigError("--instructions is required (a .txt/.json/.jsonl/.csv file of instructions)")
    instructions = load_instructions(cfg.instructions, cfg.instruction_field)
    unique = dedup_instructions(instructions)
    if cfg.max_instructions is not None:
        unique = unique[: cfg.max_instructions]
    taxonomy = load_taxonomy(*cfg.taxonomy)
    teacher = make_backend(
        cfg.teacher, cfg.teacher_url, os.environ.get(cfg.api_key_env), cfg.concurrency, cfg.max_retries,
        cfg.requests_per_second, cfg.batch_size,
    )
    with progress_bar(len(unique), "synthesize") as advance:
        summary = synthesize(
            unique,
            teacher,
            cfg.output_dir,
            taxonomy,
            cfg.systems_per_instruction,
            cfg.seed,
            cfg.constraints,
            cfg.generation(),
            cfg.chunk_size,
            cfg.source,
            Path(cfg.instructions).stem,
            progress=advance,
        )
    summary["duplicates_dropped"] = len(instructions) - len(dedup_instructions(instructions))
    summary["instructions_in"] = len(instructions)
    atomic_write_json(Path(cfg.output_dir) / "summary.json", summary)
    return summary

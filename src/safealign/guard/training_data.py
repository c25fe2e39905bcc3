"""Labelled examples for training the guard, from the project's records and from plain labelled prompt lists.

Sources (all produce :class:`safealign.guard.classifier.GuardExample`):

- :func:`from_safety_pairs`  per-response flags, severity and categories of SafetyPair records (PKU-SafeRLHF,
  BeaverTails-V): one (prompt, response) example per response, plus a prompt-level example (harmful when the
  pair's prompt has a category or one of its responses is unsafe; severity = the worse response's);
- :func:`from_prompt_records` PromptRecord lists with ``label`` harmful/benign (and a category);
- :func:`read_labelled_file` a JSONL/JSON list of ``{"prompt", "label": harmful|benign|unsafe|safe|true|false,
  "response"?, "category"?, "severity"?}``;
- :func:`seed_examples`      the small seed set shipped in the package (benign look-alikes included);
- :func:`augment_responses`  response-level examples built from prompt labels: a refusal is always safe, a
  compliance ("Sure, here is how… [redacted steps]") is unsafe after a harmful prompt and safe after a benign one.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import yaml

from safealign.errors import DataError
from safealign.guard.categories import canonical_categories, prior_severity
from safealign.guard.classifier import GuardExample
from safealign.utils.jsonl import read_json_rows

_TRUE = {"harmful", "unsafe", "true", "yes", "1", "toxic"}
_FALSE = {"benign", "safe", "false", "no", "0", "harmless"}


def _cats(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):  # PKU-SafeRLHF style {category: bool}
        value = [k for k, v in value.items() if v]
    if isinstance(value, str):
        value = [value]
    out: list[str] = []
    for v in value:
        out.extend(c for c in canonical_categories(str(v)) if c not in out)
    return out


def seed_data() -> dict[str, Any]:
    return yaml.safe_load(resources.files("safealign.guard").joinpath("seed_prompts.yaml").read_text(encoding="utf-8"))


def seed_examples() -> list[GuardExample]:
    seeds = seed_data()
    out = [
        GuardExample(h["prompt"], None, True, h.get("severity"), _cats(h.get("category")), "seed")
        for h in seeds["harmful"]
    ]
    out += [GuardExample(p, None, False, None, None, "seed") for p in seeds["benign"]]
    return out


def augment_responses(examples: Sequence[GuardExample], per_prompt: int = 1, seed: int = 0) -> list[GuardExample]:
    """Response-level examples from prompt-level labels (see module doc)."""
    seeds = seed_data()
    rng = random.Random(seed)
    out: list[GuardExample] = []
    for e in examples:
        if e.response is not None:
            continue
        for _ in range(per_prompt):
            out.append(GuardExample(e.prompt, rng.choice(seeds["refusals"]), False, None, None, "augment-refusal"))
            if e.unsafe:
                out.append(
                    GuardExample(
                        e.prompt, rng.choice(seeds["compliance"]), True, e.severity, e.categories, "augment-compliance"
                    )
                )
            else:
                out.append(
                    GuardExample(
                        e.prompt, rng.choice(seeds["helpful"] + seeds["compliance"][:1]), False, None, None,
                        "augment-helpful",
                    )
                )
    return out


def from_safety_pairs(pairs: Iterable[Any]) -> list[GuardExample]:
    out: list[GuardExample] = []
    for p in pairs:
        sev_pair = tuple(p.severity) if p.severity else (0, 0)
        for i in (0, 1):
            unsafe = not bool(p.is_safe[i])
            sev = int(sev_pair[i]) if unsafe else None
            cats = _cats(p.categories[i]) if p.categories else []
            if unsafe and not cats and p.prompt_category:
                cats = _cats(p.prompt_category)
            if unsafe and not sev:
                sev = prior_severity(cats)
            out.append(GuardExample(p.prompt, p.responses[i], unsafe, sev, cats or None, "safety_pair"))
        any_unsafe = not all(p.is_safe)
        if any_unsafe or p.prompt_category:
            cats = _cats(p.prompt_category) or [c for i in (0, 1) for c in _cats(p.categories[i])]
            sev = max(int(s) for s in sev_pair) or prior_severity(cats)
            out.append(GuardExample(p.prompt, None, True, sev, cats or None, "safety_pair_prompt"))
        else:
            out.append(GuardExample(p.prompt, None, False, None, None, "safety_pair_prompt"))
    return out


def from_prompt_records(records: Iterable[Any]) -> list[GuardExample]:
    out = []
    for r in records:
        if r.label not in ("harmful", "benign"):
            continue
        cats = _cats(r.category) if r.label == "harmful" else []
        out.append(
            GuardExample(
                r.prompt, None, r.label == "harmful", prior_severity(cats) if r.label == "harmful" else None,
                cats or None, "prompt_record",
            )
        )
    return out


def _parse_label(value: Any, file: str, row: int) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise DataError(f"label must be harmful/benign (or unsafe/safe, true/false), got {value!r}", file, row, "label")


def read_labelled_file(path: str | Path) -> list[GuardExample]:
    """Read a labelled prompt list (JSONL, or a JSON array); errors name the file, row and field."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", str(path))
    out: list[GuardExample] = []
    for n, row in enumerate(read_json_rows(path), 1):
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError("missing or empty", str(path), n, "prompt")
        label_key = next((k for k in ("label", "unsafe", "is_unsafe", "harmful") if k in row), None)
        if label_key is None:
            raise DataError("missing (harmful/benign)", str(path), n, "label")
        unsafe = _parse_label(row[label_key], str(path), n)
        response = row.get("response")
        if response is not None and not isinstance(response, str):
            raise DataError("must be a string", str(path), n, "response")
        cats = _cats(row.get("category") or row.get("categories")) if unsafe else []
        sev: Optional[int] = None
        if unsafe:
            raw = row.get("severity")
            if raw is None:
                sev = prior_severity(cats)
            else:
                try:
                    sev = int(raw)
                except (TypeError, ValueError):
                    sev = {"minor": 1, "moderate": 2, "severe": 3}.get(str(raw).lower())
                if sev not in (1, 2, 3):
                    raise DataError(
                        f"severity must be 1..3 or minor/moderate/severe, got {raw!r}", str(path), n, "severity"
                    )
        out.append(GuardExample(prompt, response, unsafe, sev, cats or None, str(path.name)))
    return out


def demo_examples() -> list[GuardExample]:
    """The package's demo data (safety_train pairs, eval_prompts excluded), when the demo module provides it."""
    out: list[GuardExample] = []
    try:
        from safealign.data.demo import load_demo  # written by the data area
    except ImportError:
        return out
    try:
        out += from_safety_pairs(load_demo("safety_train"))
    except Exception:  # noqa: BLE001 - demo set not available in this build
        pass
    return out

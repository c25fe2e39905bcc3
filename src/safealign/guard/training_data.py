"""The guard's training data, assembled in one place: every source read, counted and split, nothing dropped silently.

    from safealign.guard.training_data import assemble
    data = assemble(["seed", "demo", "lookalikes", "my_labels.jsonl"], shared_data="../shared/data")
    data.train, data.dev      # list[GuardExample]: fit on train; calibrate and choose the threshold on dev
    data.report()             # per source: rows read, examples kept, and every drop with its reason

Sources (each yields :class:`GuardExample` items, prompt-level and/or (prompt, response)-level):

- ``seed``        the small seed set shipped in ``seed_prompts.yaml`` (harmful prompts, benign look-alikes);
- ``demo``        the demo safety pairs (``safety_train``): one example per response plus one per prompt;
- ``lookalikes``  the TRAIN split of the package's look-alike set (:mod:`safealign.data.lookalikes`): both members of
  each pair, the no-trigger and blatant harmful prompts, and the helpful / refusal / compliance answers;
- ``shared``      the TRAIN split of the public prompt sets of a ``shared/data`` folder (only when one is given;
  :mod:`safealign.data.shared_sets`; evaluation-only sets such as Koala are never read);
- a file path     a labelled JSONL/JSON list (:func:`read_labelled_file`), e.g. ``data collect``'s answers file.

Then, optionally, ``augment``: response-level examples from prompt labels (a refusal is safe after any prompt; a
compliance is unsafe after a harmful prompt; a helpful answer is safe after a benign one).

**Redaction markers.** Every unsafe answer the project writes shows its content as a bracketed placeholder
("[redacted steps]", "[method withheld]") and no safe answer does, so a classifier could learn the brackets instead
of the answer. :func:`vary_markers` rewrites every answer: a placeholder is deleted, kept, or replaced by another
form ("...", "(details omitted)", "X"); and safe answers get bracketed placeholders of their own ("[your name]",
"[redacted]") at the same rate, so a bracket says nothing about the label.

**Evaluation data is never trained on.** An example whose prompt is a held-out look-alike prompt (or, with
``shared_data``, a held-out shared prompt) is dropped and counted as ``heldout_overlap``; a (prompt, response) seen
twice is dropped as ``duplicate``; one seen with both labels is dropped as ``label_conflict`` (both copies).

**Dev split.** A fixed share of the training prompts (hash of the normalised prompt, salted, :func:`dev_of`) is held
out of fitting as ``dev``: the temperature is fitted and the operating threshold chosen there, never on the
evaluation held-out parts. All examples of one prompt fall on the same side.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import yaml

from safealign.errors import DataError
from safealign.guard.categories import canonical_categories, prior_severity
from safealign.guard.examples import GuardExample
from safealign.utils.jsonl import read_json_rows

_TRUE = {"harmful", "unsafe", "true", "yes", "1", "toxic"}
_FALSE = {"benign", "safe", "false", "no", "0", "harmless"}
BUILTIN_SOURCES = ("seed", "demo", "lookalikes", "shared")
DEFAULT_SOURCES = ["seed", "demo", "lookalikes"]
DEV_PERCENT = 12  # share of training prompts held out of fitting for calibration and the threshold


# ------------------------------------------------------------------------------------------------ helpers
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


def prompt_key(prompt: str) -> str:
    """The normalised prompt text (lower case, whitespace collapsed): the unit of dedup and of the dev split."""
    return " ".join(prompt.lower().split())


def dev_of(prompt: str, percent: int = DEV_PERCENT) -> bool:
    """True for the fixed ``percent`` % of prompts held out of fitting: SHA-256 of ``"guard-dev:" + key``, first 8 hex
    digits as an integer, modulo 100 (a different salt from the project's train/held-out rule, so it only ever cuts
    the train part further)."""
    h = int(hashlib.sha256(("guard-dev:" + prompt_key(prompt)).encode("utf-8")).hexdigest()[:8], 16)
    return h % 100 < percent


def harmful_example(prompt: str, category: Any, source: str, severity: Optional[int] = None) -> GuardExample:
    cats = _cats(category)
    return GuardExample(prompt, None, True, severity or prior_severity(cats), cats or None, source)


def benign_example(prompt: str, source: str, response: Optional[str] = None) -> GuardExample:
    return GuardExample(prompt, response, False, None, None, source)


# ------------------------------------------------------------------------------------------------ markers
# a bracketed placeholder of a written answer: "[redacted steps]", "[method withheld]", "[…]", "[details removed]"
MARKER_RE = re.compile(r"\[[^\[\]\n]{0,60}\]")
_REPLACEMENTS = ("", "", "...", "(details omitted)", "X", "<step>", "the usual way", "[step]", "[redacted]", "it")
_SAFE_PLACEHOLDERS = (
    "[your name]", "[redacted]", "[link]", "[date]", "[company]", "[redacted for privacy]", "[insert number]", "[...]",
)


def strip_markers(text: str) -> str:
    """The answer with every bracketed placeholder deleted (and the spacing tidied)."""
    return _tidy(MARKER_RE.sub("", text))


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return text.strip()


def vary_markers(text: str, rng: random.Random, unsafe: bool) -> str:
    """Rewrite an answer so that bracketed placeholders carry no label (see the module doc)."""
    if MARKER_RE.search(text):
        mode = rng.random()
        if mode < 0.4:  # delete every placeholder
            return strip_markers(text)
        if mode < 0.8:  # replace each with another form
            return _tidy(MARKER_RE.sub(lambda _m: rng.choice(_REPLACEMENTS), text))
        return text  # keep as written
    if not unsafe and rng.random() < 0.25:  # safe answers get placeholders of their own
        words = text.split(" ")
        at = rng.randrange(len(words) + 1)
        return " ".join(words[:at] + [rng.choice(_SAFE_PLACEHOLDERS)] + words[at:])
    return text


# ------------------------------------------------------------------------------------------------ sources
def seed_data() -> dict[str, Any]:
    return yaml.safe_load(resources.files("safealign.guard").joinpath("seed_prompts.yaml").read_text(encoding="utf-8"))


def seed_examples() -> list[GuardExample]:
    seeds = seed_data()
    out = [harmful_example(h["prompt"], h.get("category"), "seed", h.get("severity")) for h in seeds["harmful"]]
    return out + [benign_example(p, "seed") for p in seeds["benign"]]


def from_safety_pairs(pairs: Iterable[Any], source: str = "safety_pair") -> list[GuardExample]:
    """One (prompt, response) example per response (its flag, severity and categories) and one per prompt (harmful
    when the pair's prompt has a category or one of its responses is unsafe; severity = the worse response's)."""
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
            out.append(GuardExample(p.prompt, p.responses[i], unsafe, sev, cats or None, source))
        if not all(p.is_safe) or p.prompt_category:
            cats = _cats(p.prompt_category) or [c for i in (0, 1) for c in _cats(p.categories[i])]
            sev = max(int(s) for s in sev_pair) or prior_severity(cats)
            out.append(GuardExample(p.prompt, None, True, sev, cats or None, source + "_prompt"))
        else:
            out.append(benign_example(p.prompt, source + "_prompt"))
    return out


def from_prompt_records(records: Iterable[Any], source: str = "prompt_record") -> tuple[list[GuardExample], int]:
    """(examples, how many records had no harmful/benign label and were skipped)."""
    out, unlabelled = [], 0
    for r in records:
        if r.label == "harmful":
            out.append(harmful_example(r.prompt, r.category, source))
        elif r.label == "benign":
            out.append(benign_example(r.prompt, source))
        else:
            unlabelled += 1
    return out, unlabelled


def demo_examples() -> list[GuardExample]:
    """The package's demo safety pairs (``safety_train``; eval_prompts and safety_test are never used)."""
    from safealign.data.demo import load_demo

    return from_safety_pairs(load_demo("safety_train"), "demo")


def lookalike_examples() -> list[GuardExample]:
    """The TRAIN split of the look-alike set: both members of each pair, the no-trigger and blatant prompts, and the
    answers (helpful and refusal safe, compliance unsafe)."""
    from safealign.data.lookalikes import load_answers, load_no_trigger, load_pairs

    out: list[GuardExample] = []
    for p in load_pairs(split="train"):
        if p.label == "harmful":
            out.append(harmful_example(p.prompt, p.category, "lookalikes:pairs"))
        else:
            out.append(benign_example(p.prompt, "lookalikes:pairs"))
    out += [harmful_example(r.prompt, r.category, f"lookalikes:{r.kind}") for r in load_no_trigger(split="train")]
    for a in load_answers(split="train"):
        cats = _cats(a.category) if a.unsafe else []
        sev = prior_severity(cats) if a.unsafe else None
        out.append(GuardExample(a.prompt, a.response, a.unsafe, sev, cats or None, f"lookalikes:{a.kind}"))
    return out


def shared_examples(root: str | Path) -> tuple[list[GuardExample], dict[str, int]]:
    """The TRAIN split of every trainable public set in ``root`` (a shared/data folder), and rows per set."""
    from safealign.data.shared_sets import SHARED_SETS, load_shared_set

    out: list[GuardExample] = []
    per_set: dict[str, int] = {}
    for name, spec in SHARED_SETS.items():
        if not spec.trainable:
            continue
        recs = load_shared_set(root, name, split="train")
        per_set[name] = len(recs)
        out += from_prompt_records(recs, f"shared:{name}")[0]
    return out, per_set


def _parse_label(value: Any, file: str, row: int, key: str) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise DataError(f"label must be harmful/benign (or unsafe/safe, true/false), got {value!r}", file, row, key)


def _severity(raw: Any, cats: list[str], file: str, row: int) -> int:
    if raw is None:
        return prior_severity(cats)
    try:
        sev = int(raw)
    except (TypeError, ValueError):
        sev = {"minor": 1, "moderate": 2, "severe": 3}.get(str(raw).lower(), 0)
    if sev == 0 and isinstance(raw, int):  # data collect writes severity 0 for a safe answer
        return prior_severity(cats)
    if sev not in (1, 2, 3):
        raise DataError(f"severity must be 1..3 or minor/moderate/severe, got {raw!r}", file, row, "severity")
    return sev


def read_labelled_file(path: str | Path) -> list[GuardExample]:
    """A labelled list (JSONL, or a JSON array) of ``{"prompt", "label": harmful|benign|unsafe|safe|true|false,
    "response"?, "category"?, "severity"?}``; ``answer`` is read as ``response`` and ``unsafe`` as ``label``, so the
    ``<stem>.answers.jsonl`` of ``safealign data collect`` is read as it is. Errors name the file, row and field."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", str(path))
    out: list[GuardExample] = []
    for n, row in enumerate(read_json_rows(path), 1):
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", str(path), n)
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError("missing or empty", str(path), n, "prompt")
        label_key = next((k for k in ("label", "unsafe", "is_unsafe", "harmful") if k in row), None)
        if label_key is None:
            raise DataError("missing (harmful/benign)", str(path), n, "label")
        unsafe = _parse_label(row[label_key], str(path), n, label_key)
        resp_key = "response" if "response" in row else "answer"
        response = row.get(resp_key)
        if response is not None and not isinstance(response, str):
            raise DataError("must be a string", str(path), n, resp_key)
        cats = _cats(row.get("category") or row.get("categories")) if unsafe else []
        sev = _severity(row.get("severity"), cats, str(path), n) if unsafe else None
        out.append(GuardExample(prompt, response, unsafe, sev, cats or None, path.name))
    return out


def augment_responses(
    examples: Sequence[GuardExample], per_prompt: int = 1, seed: int = 0, share: float = 1.0
) -> list[GuardExample]:
    """Response-level examples from prompt-level labels (see the module doc), for a random ``share`` of the prompts."""
    seeds = seed_data()
    rng = random.Random(seed)
    out: list[GuardExample] = []
    for e in examples:
        if e.response is not None or rng.random() >= share:
            continue
        for _ in range(per_prompt):
            out.append(GuardExample(e.prompt, rng.choice(seeds["refusals"]), False, None, None, "augment:refusal"))
            if e.unsafe:
                answer = rng.choice(seeds["compliance"])
                out.append(GuardExample(e.prompt, answer, True, e.severity, e.categories, "augment:compliance"))
            else:
                out.append(benign_example(e.prompt, "augment:helpful", rng.choice(seeds["helpful"])))
    return out


# ------------------------------------------------------------------------------------------------ assembly
@dataclass
class SourceCount:
    """What one source gave: rows read, examples kept (train + dev), and each reason for a drop."""

    name: str
    read: int = 0
    kept: int = 0
    unsafe: int = 0
    responses: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    detail: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


@dataclass
class GuardData:
    train: list[GuardExample]
    dev: list[GuardExample]
    counts: list[SourceCount]

    def report(self) -> dict[str, Any]:
        return {
            "train": len(self.train),
            "dev": len(self.dev),
            "train_unsafe": sum(e.unsafe for e in self.train),
            "dev_unsafe": sum(e.unsafe for e in self.dev),
            "sources": {
                c.name: {
                    "read": c.read, "kept": c.kept, "unsafe": c.unsafe, "responses": c.responses,
                    **({"dropped": dict(c.dropped)} if c.dropped else {}),
                    **({"sets": dict(c.detail)} if c.detail else {}),
                }
                for c in self.counts
            },
        }


def _heldout_prompts(shared_data: Optional[str | Path]) -> set[str]:
    """Normalised texts of every evaluation held-out prompt the package knows (look-alikes; shared sets if given)."""
    from safealign.data.lookalikes import load_answers, load_no_trigger, load_pairs

    keys = {prompt_key(p.prompt) for p in load_pairs(split="heldout")}
    keys |= {prompt_key(p.prompt) for p in load_no_trigger(split="heldout")}
    keys |= {prompt_key(a.prompt) for a in load_answers(split="heldout")}
    if shared_data is not None:
        from safealign.data.shared_sets import SHARED_SETS, load_shared_set

        for name, spec in SHARED_SETS.items():
            part = None if not spec.trainable else "heldout"  # an evaluation-only set is held out whole
            keys |= {prompt_key(r.prompt) for r in load_shared_set(shared_data, name, split=part)}
    return keys


def _read_source(src: str, shared_data: Optional[str | Path], count: SourceCount) -> list[GuardExample]:
    if src == "seed":
        return seed_examples()
    if src == "demo":
        return demo_examples()
    if src == "lookalikes":
        return lookalike_examples()
    if src == "shared":
        if shared_data is None:
            raise DataError("the 'shared' source needs a shared data folder (--shared-data DIR)", field="data")
        ex, per_set = shared_examples(shared_data)
        count.detail.update(per_set)
        return ex
    return read_labelled_file(src)


def assemble(
    sources: Sequence[str] = tuple(DEFAULT_SOURCES),
    shared_data: Optional[str | Path] = None,
    augment: bool = True,
    augment_per_prompt: int = 1,
    augment_share: float = 0.15,
    seed: int = 0,
    dev_percent: int = DEV_PERCENT,
    progress: Optional[Callable[[str], None]] = None,
) -> GuardData:
    """Read every source, vary the redaction markers, drop (and count) held-out overlaps, duplicates and label
    conflicts, augment (``augment_share`` of the prompts), and split train / dev. ``shared_data`` adds the ``shared``
    source when it is not listed."""
    sources = list(dict.fromkeys(sources))
    if shared_data is not None and "shared" not in sources:
        sources.append("shared")
    heldout = _heldout_prompts(shared_data)
    rng = random.Random(seed)
    counts: list[SourceCount] = []
    kept: list[tuple[GuardExample, SourceCount]] = []
    seen: dict[tuple[str, Optional[str]], tuple[bool, int]] = {}  # (prompt key, response) -> (label, index in kept)
    conflicts: set[int] = set()

    def add(ex: Iterable[GuardExample], count: SourceCount) -> None:
        for e in ex:
            if prompt_key(e.prompt) in heldout:
                count.drop("heldout_overlap")
                continue
            if e.response is not None:
                e = GuardExample(e.prompt, vary_markers(e.response, rng, e.unsafe), e.unsafe, e.severity,
                                 e.categories, e.source)
            key = (prompt_key(e.prompt), None if e.response is None else " ".join(e.response.lower().split()))
            if key in seen:
                label, idx = seen[key]
                if label == e.unsafe:
                    count.drop("duplicate")
                else:
                    count.drop("label_conflict")
                    conflicts.add(idx)
                continue
            seen[key] = (e.unsafe, len(kept))
            kept.append((e, count))

    for src in sources:
        if progress:
            progress(src)
        count = SourceCount(src)
        examples = _read_source(src, shared_data, count)
        count.read = len(examples)
        counts.append(count)
        add(examples, count)
    if augment:
        count = SourceCount("augment")
        base = [e for i, (e, _) in enumerate(kept) if e.response is None and i not in conflicts]
        extra = augment_responses(base, augment_per_prompt, seed, augment_share)
        count.read = len(extra)
        counts.append(count)
        add(extra, count)
    train: list[GuardExample] = []
    dev: list[GuardExample] = []
    for i, (e, count) in enumerate(kept):
        if i in conflicts:  # the first copy of a conflicting pair goes too (its source counts it)
            count.drop("label_conflict")
            continue
        count.kept += 1
        count.unsafe += int(e.unsafe)
        count.responses += int(e.response is not None)
        (dev if dev_of(e.prompt, dev_percent) else train).append(e)
    return GuardData(train, dev, counts)

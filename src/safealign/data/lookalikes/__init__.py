"""The look-alike set: prompts written for safealign by the project (package data; see README.md beside this file).

    from safealign.data.lookalikes import load_pairs, load_answers, load_no_trigger, split_of
    train = load_pairs(split="train")          # list[LookalikePrompt], both members of each pair
    held = load_answers(split="heldout")       # list[LookalikeAnswer]: helpful / refusal / compliance

Files: ``pairs.jsonl`` (a benign prompt and its harmful counterpart in the same frame), ``no_trigger.jsonl`` (harmful
prompts without trigger words, and blatant short requests) and ``answers.jsonl`` (a helpful answer to each benign
prompt; a refusal and an abstract compliance to each harmful one).

Split rule (the project's fixed rule, :mod:`safealign.data.splits`): :func:`split_of` hashes the pair id (for
no_trigger rows, the row id) with SHA-256; the key is held out when the first 8 hex digits, read as an integer, are
divisible by 4 (about 25 %). Both members of a pair and all their answers share the pair's split. Answers in the
styles of :data:`HELDOUT_ONLY_STYLES` occur only in held-out
pairs, so that held-out answers include styles no training answer uses.

Harmful content is abstract: a compliant answer accepts the request and shows its content as "[redacted ...]".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Literal, Optional

from safealign.data.io import read_jsonl_rows
from safealign.data.records import PromptRecord
from safealign.data.splits import SPLITS, Split, split_of
from safealign.errors import DataError

LOOKALIKES_DIR = Path(__file__).resolve().parent

# frame -> what the benign member does with the words or frame its harmful counterpart shares
FRAMES: dict[str, str] = {
    "technical_sense": "a homonym or technical sense (kill a process, shoot a photo, execute a script)",
    "figure_of_speech": "an idiom or figure of speech (killing it at work, murder a song)",
    "games": "video games, board games and sport",
    "fiction": "fiction and creative writing",
    "history": "historical events",
    "medicine": "medicine and health",
    "security_education": "how attacks and fraud work, at a conceptual level, to defend against them",
    "definition": "what a term means",
    "public_figure": "public facts about public figures",
    "fictional_privacy": "privacy questions about fictional people",
    "group_question": "questions about groups that are not protected classes",
    "safe_chemistry": "drugs and chemistry in safe contexts",
    "weapons_legal": "weapons, hunting and self-defence in legal contexts",
    "wellbeing": "self-harm-adjacent words in a safe sense (dying to see, killing it at work)",
    "prevention": "how to notice, prevent or report a harm",
}
HELPFUL_STYLES = ("direct", "steps", "explainer", "code", "caveated")
REFUSAL_STYLES = ("terse", "apologetic", "redirect", "explains", "alternative", "in_character")
COMPLIANCE_STYLES = ("numbered", "narrative", "casual", "hedged", "partial", "roleplay", "code_block")
STYLES: dict[str, tuple[str, ...]] = {
    "helpful": HELPFUL_STYLES, "refusal": REFUSAL_STYLES, "compliance": COMPLIANCE_STYLES,
}
# Answer styles that occur only in the held-out split (generalisation to unseen styles).
HELDOUT_ONLY_STYLES = frozenset({"in_character", "roleplay", "code_block"})
REDACTION_MARK = "[redacted"
NO_TRIGGER_KINDS = ("no_trigger", "blatant")


@dataclass(frozen=True)
class LookalikePrompt:
    """One member of a pair: ``label`` benign or harmful; ``category`` is the harmful member's canonical category."""

    id: str
    pair_id: str
    label: Literal["benign", "harmful"]
    prompt: str
    frame: str
    category: str

    @property
    def split(self) -> Split:
        return split_of(self.pair_id)

    def to_prompt_record(self) -> PromptRecord:
        return PromptRecord(prompt=self.prompt, category=self.category, label=self.label, id=self.id)


@dataclass(frozen=True)
class LookalikeAnswer:
    """An answer to a pair's prompt: helpful (benign prompt, safe), refusal (harmful, safe), compliance (unsafe)."""

    id: str
    prompt_id: str
    pair_id: str
    prompt: str
    response: str
    response_label: Literal["safe", "unsafe"]
    kind: Literal["helpful", "refusal", "compliance"]
    style: str
    category: str

    @property
    def split(self) -> Split:
        return split_of(self.pair_id)

    @property
    def unsafe(self) -> bool:
        return self.response_label == "unsafe"


@dataclass(frozen=True)
class NoTriggerPrompt:
    """A harmful prompt: ``kind`` no_trigger (no trigger words) or blatant (a short, obvious request)."""

    id: str
    prompt: str
    category: str
    kind: Literal["no_trigger", "blatant"]

    @property
    def split(self) -> Split:
        return split_of(self.id)

    def to_prompt_record(self) -> PromptRecord:
        return PromptRecord(prompt=self.prompt, category=self.category, label="harmful", id=self.id)


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number, object) for each non-empty line; a missing file or a bad line is a one-line DataError."""
    rows = list(enumerate(read_jsonl_rows(path), 1))
    for n, row in rows:
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", str(path), n)
    return rows


def _text(row: dict[str, Any], key: str, path: Path, n: int, choices: Optional[Iterable[str]] = None) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError("missing or empty", str(path), n, key)
    if choices is not None and value not in choices:
        raise DataError(f"must be one of {', '.join(choices)}, got {value!r}", str(path), n, key)
    return value


def _unique(seen: set[str], value: str, what: str, path: Path, n: int, key: str) -> None:
    if value in seen:
        raise DataError(f"duplicate {what} {value!r}", str(path), n, key)
    seen.add(value)


def _filter(rows: list, split: Optional[str]) -> list:
    if split is None:
        return list(rows)
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return [r for r in rows if r.split == split]


@lru_cache(maxsize=8)
def _pairs(path: Path) -> tuple[LookalikePrompt, ...]:
    out: list[LookalikePrompt] = []
    ids: set[str] = set()
    texts: set[str] = set()
    members: dict[str, dict[str, tuple[int, LookalikePrompt]]] = {}
    for n, row in _read_rows(path):
        p = LookalikePrompt(
            id=_text(row, "id", path, n), pair_id=_text(row, "pair_id", path, n),
            label=_text(row, "label", path, n, ("benign", "harmful")),  # type: ignore[arg-type]
            prompt=_text(row, "prompt", path, n), frame=_text(row, "frame", path, n, FRAMES),
            category=_text(row, "category", path, n),
        )
        _unique(ids, p.id, "id", path, n, "id")
        _unique(texts, p.prompt.strip().lower(), "prompt", path, n, "prompt")
        pair = members.setdefault(p.pair_id, {})
        if p.label in pair:
            raise DataError(f"pair {p.pair_id!r} has two {p.label} members", str(path), n, "label")
        other = next(iter(pair.values()), None)
        for key in ("frame", "category"):
            if other is not None and getattr(other[1], key) != getattr(p, key):
                raise DataError(f"differs from its pair's other member ({getattr(other[1], key)!r})", str(path), n, key)
        pair[p.label] = (n, p)
        out.append(p)
    for pair_id, pair in members.items():
        if len(pair) != 2:
            n, p = next(iter(pair.values()))
            missing = "harmful" if p.label == "benign" else "benign"
            raise DataError(f"pair {pair_id!r} has no {missing} member", str(path), n, "pair_id")
    return tuple(out)


@lru_cache(maxsize=8)
def _answers(path: Path, pairs_path: Path) -> tuple[LookalikeAnswer, ...]:
    prompts = {p.id: p for p in _pairs(pairs_path)}
    expected = {"benign": {"helpful"}, "harmful": {"refusal", "compliance"}}
    out: list[LookalikeAnswer] = []
    ids: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for n, row in _read_rows(path):
        answer_id = _text(row, "id", path, n)
        _unique(ids, answer_id, "id", path, n, "id")
        prompt_id = _text(row, "prompt_id", path, n)
        if prompt_id not in prompts:
            raise DataError(f"unknown prompt id {prompt_id!r} (not in {pairs_path.name})", str(path), n, "prompt_id")
        p = prompts[prompt_id]
        prompt = _text(row, "prompt", path, n)
        if prompt != p.prompt:
            raise DataError(f"differs from the text of {prompt_id!r} in {pairs_path.name}", str(path), n, "prompt")
        kind = _text(row, "kind", path, n, STYLES)
        if kind not in expected[p.label]:
            takes = " or ".join(sorted(expected[p.label]))
            raise DataError(f"a {p.label} prompt takes {takes} answers, not {kind}", str(path), n, "kind")
        label = _text(row, "response_label", path, n, ("safe", "unsafe"))
        if (label == "unsafe") != (kind == "compliance"):
            should = "unsafe" if kind == "compliance" else "safe"
            raise DataError(f"a {kind} answer is {should}", str(path), n, "response_label")
        style = _text(row, "style", path, n, STYLES[kind])
        if style in HELDOUT_ONLY_STYLES and p.split != "heldout":
            msg = f"style {style!r} is held-out only but pair {p.pair_id!r} is in train"
            raise DataError(msg, str(path), n, "style")
        response = _text(row, "response", path, n)
        if kind == "compliance" and REDACTION_MARK not in response:
            msg = f"a compliant answer must show its content as {REDACTION_MARK}...]"
            raise DataError(msg, str(path), n, "response")
        _unique(seen, (prompt_id, kind), "answer kind for prompt", path, n, "kind")  # type: ignore[arg-type]
        out.append(LookalikeAnswer(
            answer_id, prompt_id, p.pair_id, prompt, response, label, kind, style, p.category,  # type: ignore[arg-type]
        ))
    return tuple(out)


@lru_cache(maxsize=8)
def _no_trigger(path: Path) -> tuple[NoTriggerPrompt, ...]:
    out: list[NoTriggerPrompt] = []
    ids: set[str] = set()
    texts: set[str] = set()
    for n, row in _read_rows(path):
        if row.get("label", "harmful") != "harmful":
            raise DataError(f"every row is harmful, got {row.get('label')!r}", str(path), n, "label")
        r = NoTriggerPrompt(
            id=_text(row, "id", path, n), prompt=_text(row, "prompt", path, n),
            category=_text(row, "category", path, n),
            kind=_text(row, "kind", path, n, NO_TRIGGER_KINDS),  # type: ignore[arg-type]
        )
        _unique(ids, r.id, "id", path, n, "id")
        _unique(texts, r.prompt.strip().lower(), "prompt", path, n, "prompt")
        out.append(r)
    return tuple(out)


def load_pairs(path: str | Path | None = None, split: Optional[str] = None) -> list[LookalikePrompt]:
    """Every prompt of ``pairs.jsonl`` (or ``path``), validated; ``split`` keeps one split."""
    return _filter(list(_pairs(Path(path or LOOKALIKES_DIR / "pairs.jsonl").resolve())), split)


def load_answers(
    path: str | Path | None = None, split: Optional[str] = None, pairs_path: str | Path | None = None
) -> list[LookalikeAnswer]:
    """Every answer of ``answers.jsonl``, checked against the prompts of ``pairs.jsonl`` (or ``pairs_path``)."""
    pairs = Path(pairs_path or LOOKALIKES_DIR / "pairs.jsonl").resolve()
    return _filter(list(_answers(Path(path or LOOKALIKES_DIR / "answers.jsonl").resolve(), pairs)), split)


def load_no_trigger(
    path: str | Path | None = None, split: Optional[str] = None, kind: Optional[str] = None
) -> list[NoTriggerPrompt]:
    """The harmful prompts of ``no_trigger.jsonl``; ``kind`` keeps no_trigger or blatant ones."""
    rows = _filter(list(_no_trigger(Path(path or LOOKALIKES_DIR / "no_trigger.jsonl").resolve())), split)
    if kind is not None and kind not in NO_TRIGGER_KINDS:
        raise DataError(f"kind must be one of {', '.join(NO_TRIGGER_KINDS)}, got {kind!r}")
    return [r for r in rows if kind is None or r.kind == kind]

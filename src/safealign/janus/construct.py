"""Deterministic answers for synthesis: repair a model's answer until it meets every constraint, or break exactly one.

:func:`repair` is the fallback of best-of-n synthesis when no sampled answer meets all its constraints: each failing
constraint's family has a *fixer* (a plain text edit: cut to n sentences, lay the sentences out as n bullets, add a
required word, strip commas, prepend an opening phrase, ...), applied in a fixed order (length, then shape, then
wording, then characters and case, then the opening and closing) for a few rounds. The result is kept only when the
checkers pass it, so a repaired answer is as verified as a sampled one; families without a fixer (the answer's
language, letter frequencies, ...) are simply never repaired and their rows are dropped.

:func:`break_one` makes the rejected answer of a preference pair: edits of the chosen answer (upper-casing, adding a
comma, dropping the last sentence, ...) checked until exactly the target constraint fails and every other still
holds.
"""

from __future__ import annotations

import json
import re
from typing import Callable, Optional

from safealign.janus.families import REGISTRY
from safealign.janus.families.spec import Constraint, count, param, word_list
from safealign.janus.families.text import normalise_quotes, sentences, words

FILLER = (
    "This is the main point to keep in mind",
    "It helps to take one step at a time",
    "A short check at the end avoids mistakes",
    "Small details make a real difference here",
    "The same idea works in most everyday cases",
    "Ask again whenever something is unclear",
)
_SMALL = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _units(text: str, n: int) -> list[str]:
    """n sentence-like units from the text (its sentences without end marks, then filler)."""
    units = [re.sub(r"^[-*•#>\d.)\s]+", "", s).strip() for s in sentences(text)]
    units = [u for u in units if words(u)]
    units += [FILLER[i % len(FILLER)] for i in range(max(0, n - len(units)))]
    return units[:n]


def _end(unit: str) -> str:
    """The unit with its own end mark, or a full stop when it has none."""
    return unit if unit.endswith((".", "!", "?", "…")) else unit + "."


def _prose(units: list[str]) -> str:
    return " ".join(_end(u) for u in units)


def _cut_words(text: str, n: int) -> str:
    tokens = text.split()
    while tokens and len(words(" ".join(tokens))) > n:
        tokens.pop()
    out = " ".join(tokens).rstrip(",;:")
    return out if not out or out[-1] in ".!?" else out + "."


def _pad_words(text: str, n: int) -> str:
    i = 0
    while len(words(text)) < n:
        text = text.rstrip() + " " + FILLER[i % len(FILLER)] + "."
        i += 1
    return text


def _word_range(t: str, c: Constraint) -> str:
    return _pad_words(_cut_words(t, count(c, "max")), count(c, "min"))


def _exact_sentences(t: str, c: Constraint) -> str:
    return _prose(_units(t, count(c, "n")))


def _max_sentences(t: str, c: Constraint) -> str:
    return _prose(_units(t, min(count(c, "n"), max(1, len(sentences(t))))))


def _bullets(t: str, c: Constraint) -> str:
    n = count(c, "n", "count", default=None) or c.get("min") or c.get("max") or 3
    return "\n".join(f"- {_end(u)}" for u in _units(t, int(n)))


def _numbered(t: str, c: Constraint) -> str:
    return "\n".join(f"{i}. {_end(u)}" for i, u in enumerate(_units(t, count(c, "n", "min", "count", default=2)), 1))


def _bullet_style(t: str, c: Constraint) -> str:
    return "\n".join(f"{param(c, 'marker')} {_end(u)}" for u in _units(t, count(c, "n")))


def _steps(t: str, c: Constraint) -> str:
    return "\n".join(f"Step {i}: {_end(u)}" for i, u in enumerate(_units(t, count(c, "n")), 1))


def _paragraphs(t: str, c: Constraint) -> str:
    return "\n\n".join(_end(u) for u in _units(t, count(c, "n")))


def _sections(t: str, c: Constraint) -> str:
    heads = word_list(c, "headers")
    return "\n\n".join(f"{h}\n{_end(u)}" for h, u in zip(heads, _units(t, len(heads))))


def _separators(t: str, c: Constraint) -> str:
    return "\n***\n".join(_end(u) for u in _units(t, count(c, "n")))


def _json_object(t: str, c: Constraint) -> str:
    keys = c.get("keys") or ["answer"]
    text = " ".join(_units(t, 2))
    return json.dumps({k: text if i == 0 else "" for i, k in enumerate(keys)}, ensure_ascii=False)


def _json_array(t: str, c: Constraint) -> str:
    return json.dumps([_end(u) for u in _units(t, count(c, "n"))], ensure_ascii=False)


def _headings(t: str, c: Constraint) -> str:
    names = ("Overview", "Key Points", "Details", "Next Steps", "Summary")
    n = count(c, "n")
    return "\n\n".join(f"# {names[i % len(names)]}\n{_end(u)}" for i, u in enumerate(_units(t, n)))


def _yaml(t: str, c: Constraint) -> str:
    text = " ".join(_units(t, 2))
    return "\n".join(f"{k}: {json.dumps(text if i == 0 else 'none', ensure_ascii=False)}"
                     for i, k in enumerate(word_list(c, "keys")))


def _csv(t: str, c: Constraint) -> str:
    cols = word_list(c, "columns")
    cells = [u.replace(",", "").replace('"', "") for u in _units(t, len(cols))]
    return ",".join(cols) + "\n" + ",".join(cells)


def _table(t: str, c: Constraint) -> str:
    cols, rows = count(c, "columns"), count(c, "rows")
    units = [u.replace("|", "/") for u in _units(t, cols * rows)]
    head = "| " + " | ".join(f"Part {j + 1}" for j in range(cols)) + " |"
    body = ["| " + " | ".join(units[r * cols : (r + 1) * cols]) + " |" for r in range(rows)]
    return "\n".join([head, "|" + "---|" * cols, *body])


def _code_block(t: str, c: Constraint) -> str:
    return t.rstrip() + f"\n\n```{param(c, 'language')}\n# {_units(t, 1)[0]}\n```"


def _append(t: str, sentence: str) -> str:
    return (t.rstrip() + " " + sentence).strip()


def _required(t: str, c: Constraint) -> str:
    return _append(t, "Key words here: " + " and ".join(word_list(c, "words")) + ".")


def _forbidden(t: str, c: Constraint) -> str:
    for w in word_list(c, "words"):
        t = re.sub(r"(?<![\w'])" + re.escape(w) + r"(?![\w'])", "", normalise_quotes(t), flags=re.I)
    return re.sub(r"[ \t]{2,}", " ", t)


def _repeat(t: str, c: Constraint) -> str:
    w = str(param(c, "word"))
    return _append(t, " ".join([f"One more {w}."] * count(c, "n")))


def _quotes(t: str, c: Constraint) -> str:
    return _append(t, " ".join(f'"{u.rstrip(".!?…")}"' for u in _units(t, count(c, "n"))))


def _placeholders(t: str, c: Constraint) -> str:
    names = ("[name]", "[date]", "[place]", "[amount]", "[topic]", "[time]")
    return _append(t, "Fill in " + " ".join(names[i % len(names)] for i in range(count(c, "n"))) + ".")


def _highlights(t: str, c: Constraint) -> str:
    return _append(t, " ".join(f"*{u.rstrip('.!?…')}*." for u in _units(t, count(c, "n"))))


def _caps(t: str, c: Constraint) -> str:
    if param(c, "relation") != "at_least":
        return re.sub(r"\b[A-Z]{2,}\b", lambda m: m.group(0).capitalize(), t)
    return _append(t, " ".join(["NOTE"] * count(c, "n")) + ".")


def _numbers(t: str, c: Constraint) -> str:
    return _append(t, "Figures: " + " then ".join(str(i + 1) for i in range(count(c, "n"))) + ".")


def _exclaim(t: str, c: Constraint) -> str:
    return _append(t, " ".join(["Good luck!"] * count(c, "n")))


def _spell_digits(t: str, c: Constraint) -> str:
    return re.sub(r"\d+", lambda m: _SMALL[int(m.group(0))] if int(m.group(0)) < len(_SMALL) else "many", t)


def _ascii(t: str, c: Constraint) -> str:
    plain = normalise_quotes(t).replace("…", "...").replace("–", "-").replace("—", "-")
    return plain.encode("ascii", "ignore").decode()


def _starts(t: str, c: Constraint) -> str:
    return f"{param(c, 'text', 'prefix')} {t.lstrip()}"


def _ends(t: str, c: Constraint) -> str:
    return f"{t.rstrip()}\n{param(c, 'text', 'suffix')}"


def _end_question(t: str, c: Constraint) -> str:
    return t.rstrip().rstrip(".!") + ". Would you like more detail?"


FIXERS: dict[str, Callable[[str, Constraint], str]] = {
    # length
    "max_words": lambda t, c: _cut_words(t, count(c, "n", "max")),
    "min_words": lambda t, c: _pad_words(t, count(c, "n", "min")),
    "word_range": _word_range,
    "max_sentences": _max_sentences,
    "exact_sentences": _exact_sentences,
    # shape
    "bullet_count": _bullets,
    "numbered_list": _numbered,
    "bullet_style": _bullet_style,
    "numbered_steps": _steps,
    "paragraph_count": _paragraphs,
    "sections": _sections,
    "separator_lines": _separators,
    "title_case_headings": _headings,
    "json_array": _json_array,
    "json_output": _json_object,
    "yaml_output": _yaml,
    "csv_output": _csv,
    "markdown_table": _table,
    "code_block": _code_block,
    # wording
    "required_words": _required,
    "forbidden_words": _forbidden,
    "word_repeat": _repeat,
    "quotation_count": _quotes,
    "placeholders": _placeholders,
    "highlights": _highlights,
    "caps_words": _caps,
    "min_numbers": _numbers,
    "exclamation_count": _exclaim,
    # characters and case
    "no_commas": lambda t, c: re.sub(r"\s*[,，]\s*", " ", t),
    "no_exclamation": lambda t, c: t.replace("!", "."),
    "no_digits": _spell_digits,
    "ascii_only": _ascii,
    "all_lowercase": lambda t, c: t.lower(),
    "all_uppercase": lambda t, c: t.upper(),
    # opening and closing
    "greeting": lambda t, c: "Hello. " + t.lstrip(),
    "first_word": lambda t, c: f"{param(c, 'word')} {t.lstrip()}",
    "title_brackets": lambda t, c: f"<<Answer>>\n{t.lstrip()}",
    "starts_with": _starts,
    "end_with_question": _end_question,
    "postscript": lambda t, c: f"{t.rstrip()}\n\n{param(c, 'marker')} Ask if anything is unclear.",
    "ends_with": _ends,
    "wrap_in_quotes": lambda t, c: '"' + t.strip().replace('"', "'") + '"',
}
_ORDER = {name: i for i, name in enumerate(FIXERS)}


def repairable(family: str) -> bool:
    return family in FIXERS


def repair(answer: str, constraints: list[Constraint], rounds: int = 3) -> Optional[str]:
    """``answer`` edited until every constraint holds, or None when the fixers cannot get there."""
    text = answer or ""
    for _ in range(rounds):
        failing = [c for c in constraints if not REGISTRY.check(text, c)]
        if not failing:
            return text
        if any(not repairable(c["type"]) for c in failing):
            return None
        for c in sorted(constraints, key=lambda c: _ORDER[c["type"]] if repairable(c["type"]) else -1):
            if repairable(c["type"]) and not REGISTRY.check(text, c):
                text = FIXERS[c["type"]](text, c)
    return text if all(REGISTRY.check(text, c) for c in constraints) else None


BREAKERS: tuple[Callable[[str], str], ...] = (
    lambda t: t.upper(),
    lambda t: t.lower(),
    lambda t: t.rstrip() + " Also, that is all!",
    lambda t: "Well, " + t.lstrip(),
    lambda t: _prose(_units(t, max(1, len(sentences(t)) - 1))),
    lambda t: t.rstrip() + "\n" + " ".join(FILLER) + ".",
    lambda t: t.rstrip() + " It takes 2 minutes.",
    lambda t: "\n".join(re.sub(r"^\s*(?:[-*•]|\d+[.)]|Step \d+:)\s+", "", ln) for ln in t.splitlines()),
    lambda t: re.sub(r"\n\s*\n", "\n", t),
    lambda t: t.strip().strip('"'),
    lambda t: " ".join(t.split()),
    lambda t: t.replace("*", ""),
    lambda t: t.rstrip().rstrip("?") + ".",
)


TARGETED: dict[str, Callable[[str, Constraint], str]] = {
    "forbidden_words": lambda t, c: t.rstrip() + " " + word_list(c, "words")[0].capitalize() + " matters.",
    "ascii_only": lambda t, c: t.rstrip() + " Café time ✓",
    "letter_frequency": lambda t, c: t.rstrip() + " " + " ".join([str(param(c, "letter")) * 3] * 4) + ".",
    "required_words": lambda t, c: _forbidden(t, c),
    "word_repeat": lambda t, c: _forbidden(t, {"type": "forbidden_words", "words": [param(c, "word")]}),
    "max_words": lambda t, c: _pad_words(t, count(c, "n", "max") + 5),
    "min_words": lambda t, c: _cut_words(t, count(c, "n", "min") - 5),
}


def break_one(chosen: str, constraints: list[Constraint], target: int) -> Optional[str]:
    """An edit of ``chosen`` that fails ``constraints[target]`` and meets every other constraint, or None."""
    aimed = TARGETED.get(constraints[target]["type"])
    edits = ([lambda t: aimed(t, constraints[target])] if aimed else []) + list(BREAKERS)
    for edit in edits:
        text = edit(chosen)
        if text.strip() and text != chosen and failing_indices(text, constraints) == [target]:
            return text
    return None


def failing_indices(answer: str, constraints: list[Constraint]) -> list[int]:
    return [i for i, c in enumerate(constraints) if not REGISTRY.check(answer, c)]

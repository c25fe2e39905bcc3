"""How the checkers read an answer: words, sentences, paragraphs, list items, headings, fenced blocks, language.

Every function is a pure function of the text (no state, no randomness) and runs in linear time: the regular
expressions have no nested repetition.
"""

from __future__ import annotations

import re
from typing import Optional

# A word: letters/digits (any script, no underscore), possibly joined by an apostrophe (don't, l'eau, don’t).
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Sentence ends: terminal punctuation (and closing quotes/brackets) followed by white space or the end, or a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*(?:\s+|$)|\n\s*\n")
_ABBREVIATIONS = frozenset(
    {"e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "ms.", "dr.", "prof.", "approx.", "fig.", "cf."}
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_BULLET = re.compile(r"^\s*([-*•])\s+\S")
_ANY_BULLET = re.compile(r"^\s*([-*•+–])\s+\S")
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+\S")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(\S.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)\n?[ \t]*```\s*$", re.S)
_QUOTE_CHARS = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})

# Frequent function words per language; a text is in the language whose list it hits most (no hits or a tie: None).
_FUNCTION_WORDS = {
    "en": "the and is are of to in it that you with for this be on your can a an or not was as have what how if",
    "fr": "le la les et est sont de des du un une que qui pour dans avec vous nous il elle ce cette pas sur au aux "
    "votre mais ou je en",
    "es": "el la los las y es son de del un una que para en con por usted se no su al lo como pero más muy tu yo o",
    "de": "der die das und ist sind nicht ein eine einen zu mit sie ich auf für von dem den auch sich im wir oder aber "
    "wie wenn",
}
_FUNCTION_SETS = {lang: frozenset(ws.split()) for lang, ws in _FUNCTION_WORDS.items()}
LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "de": "German"}


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def normalise_quotes(text: str) -> str:
    """Typographic quotes and apostrophes as their ASCII forms (’ -> ', “ -> ")."""
    return text.translate(_QUOTE_CHARS)


def has_word(text: str, word: str) -> bool:
    """``word`` as a whole word (case-insensitive; typographic apostrophes count as ASCII ones)."""
    pattern = r"(?<!\w)" + re.escape(normalise_quotes(word).lower()) + r"(?!\w)"
    return re.search(pattern, normalise_quotes(text).lower()) is not None


def count_word(text: str, word: str) -> int:
    pattern = r"(?<!\w)" + re.escape(normalise_quotes(word).lower()) + r"(?!\w)"
    return len(re.findall(pattern, normalise_quotes(text).lower()))


def sentences(text: str) -> list[str]:
    """Sentences: split after . ! ? … (not after a common abbreviation such as e.g.) and at blank lines.

    A piece without any letter or digit (a stray "***") is not a sentence.
    """
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        chunk = text[start : m.start()]
        last = chunk.split()[-1].lower() if chunk.split() else ""
        if last in _ABBREVIATIONS and not _BLANK_LINE.search(m.group(0)):
            continue
        pieces.append(chunk)
        start = m.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces if words(p)]


def paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines (a line of white space counts as blank)."""
    return [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def nonblank_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def bullet_markers(text: str, markers: str = "-*•") -> list[str]:
    """The marker of every bullet line (``- x``, ``* x``, ``• x``; ``markers='-*•+–'`` adds ``+`` and en dash)."""
    pattern = _BULLET if markers == "-*•" else _ANY_BULLET
    return [m.group(1) for ln in text.splitlines() if (m := pattern.match(ln)) and m.group(1) in markers]


def numbered_items(text: str) -> list[int]:
    """The numbers of ``1. x`` / ``2) x`` lines, in order."""
    return [int(m.group(1)) for ln in text.splitlines() if (m := _NUMBERED.match(ln))]


def headings(text: str) -> list[str]:
    """Titles of markdown ``#`` heading lines, in order."""
    return [m.group(2) for ln in text.splitlines() if (m := _HEADING.match(ln))]


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(info string, body)`` of each ```-fenced block."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^\s*```[ \t]*(\S*)", lines[i])
        if not m:
            i += 1
            continue
        for j in range(i + 1, len(lines)):
            if lines[j].strip().startswith("```"):
                out.append((m.group(1), "\n".join(lines[i + 1 : j])))
                i = j + 1
                break
        else:
            break
    return out


def unfence(text: str, tags: tuple[str, ...] = ()) -> str:
    """The body when the whole text is one fenced block with no tag or a tag in ``tags``; else the text itself."""
    m = _FENCE.match(text)
    if m and (not m.group(1) or m.group(1).lower() in tags):
        return m.group(2)
    return text


def detect_language(text: str) -> Optional[str]:
    """en / fr / es / de by function-word hits (None when no clear winner)."""
    toks = [w.lower() for w in words(text)]
    hits = {lang: sum(t in fw for t in toks) for lang, fw in _FUNCTION_SETS.items()}
    best = max(hits.values())
    winners = [lang for lang, h in hits.items() if h == best]
    return winners[0] if best and len(winners) == 1 else None


def letters(text: str) -> str:
    return "".join(ch for ch in text if ch.isalpha())

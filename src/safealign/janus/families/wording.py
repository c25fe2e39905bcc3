"""Casing, wording and markup: letter case, required / banned / repeated words, letters, quotes, brackets, emphasis."""

from __future__ import annotations

import re

from safealign.janus.families.spec import (
    Constraint,
    Family,
    at_least,
    axis,
    count,
    counted,
    joint,
    param,
    phrasings,
    plural,
    quoted,
    word_list,
)
from safealign.janus.families.text import count_word, has_word, letters, normalise_quotes, words

_QUOTED = re.compile(r'"([^"\n]+)"')
# [like this], with a letter inside (a citation [1] is no placeholder), but not a markdown link [text](url)
_PLACEHOLDER = re.compile(r"\[([^\[\]\n]+)\](?!\()")
_HIGHLIGHT = re.compile(r"(?<![*\w])(\*{1,2})(?=[^\s*])([^*\n]+?)(?<=[^\s*])\1(?![*\w])")
_RELATIONS = {"at_least": "at least", "at_most": "at most"}


def _all_lowercase(r: str, c: Constraint) -> bool:
    return any(ch.isalpha() for ch in r) and r == r.lower()


def _all_uppercase(r: str, c: Constraint) -> bool:
    return any(ch.isalpha() for ch in r) and r == r.upper()


def _caps_count(text: str) -> int:
    """Words of two letters or more written entirely in capitals (NASA, STOP)."""
    return sum(1 for w in map(letters, words(text)) if len(w) >= 2 and w.isupper())


def _relation_holds(c: Constraint, n: int) -> bool:
    rel = param(c, "relation")
    if rel not in _RELATIONS:
        raise ValueError(f"relation must be one of {', '.join(_RELATIONS)}, got {rel!r}")
    return n >= count(c, "n") if rel == "at_least" else n <= count(c, "n")


def _caps_words(r: str, c: Constraint) -> bool:
    return _relation_holds(c, _caps_count(r))


def _required_words(r: str, c: Constraint) -> bool:
    return all(has_word(r, w) for w in word_list(c, "words", "word"))


def _forbidden_words(r: str, c: Constraint) -> bool:
    return not any(has_word(r, w) for w in word_list(c, "words", "word"))


def _word_repeat(r: str, c: Constraint) -> bool:
    return count_word(r, str(param(c, "word"))) >= count(c, "n")


def _letter_count(text: str, letter: str) -> int:
    return text.lower().count(letter.lower())


def _letter_frequency(r: str, c: Constraint) -> bool:
    return _relation_holds(c, _letter_count(r, str(param(c, "letter"))))


def _quotation_count(r: str, c: Constraint) -> bool:
    return sum(1 for m in _QUOTED.finditer(normalise_quotes(r)) if words(m.group(1))) >= count(c, "n")


def _placeholders(r: str, c: Constraint) -> bool:
    return sum(1 for m in _PLACEHOLDER.finditer(r) if any(ch.isalpha() for ch in m.group(1))) >= count(c, "n")


def _highlights(r: str, c: Constraint) -> bool:
    return sum(1 for m in _HIGHLIGHT.finditer(r) if words(m.group(2))) >= count(c, "n")


def _relation_fields(noun: str):
    def fields(c: Constraint) -> dict[str, object]:
        n = count(c, "n")
        return {"rel": _RELATIONS.get(param(c, "relation"), param(c, "relation")), "n": n, "count": plural(n, noun)}

    return fields


def _words_fields(c: Constraint) -> dict[str, str]:
    ws = word_list(c, "words", "word")
    many = len(ws) > 1
    return {
        "words": quoted(ws),
        "words_or": quoted(ws, "or"),
        "word_s": "words" if many else "word",
        "them": "them" if many else "it",
    }


ALL_LOWERCASE = Family(
    name="all_lowercase",
    group="casing",
    summary="letters present and none of them capital",
    space=(),
    checker=_all_lowercase,
    slots="case",
    case_only=True,
    allows=lambda c, text: text == text.lower(),
    phrasings=phrasings(
        terse="All lowercase, no capital letters.",
        polite="Please write your entire answer in lowercase letters, without a single capital.",
        persona="You are a laid-back poet who never touches the shift key: everything you write is lowercase.",
        rule="Case: lowercase only.",
        pref="The user prefers the relaxed look of all-lowercase text, with no capitals at all.",
    ),
)

ALL_UPPERCASE = Family(
    name="all_uppercase",
    group="casing",
    summary="letters present and all of them capital",
    space=(),
    checker=_all_uppercase,
    slots="case",
    case_only=True,
    allows=lambda c, text: text == text.upper(),
    phrasings=phrasings(
        terse="ALL CAPS: write everything in capital letters.",
        polite="Please write your entire reply in uppercase letters.",
        persona="You are a vintage telegraph machine that can only print CAPITAL LETTERS.",
        rule="Case: uppercase only.",
        pref="The user has poor eyesight and wants the whole answer in capital letters.",
    ),
)

CAPS_WORDS = Family(
    name="caps_words",
    group="casing",
    summary="at least / at most n words of 2+ letters written in ALL CAPS",
    space=(
        joint(
            ("relation", "value"), (("at_least", 2), ("at_least", 3), ("at_least", 5), ("at_most", 1), ("at_most", 2))
        ),
    ),
    checker=_caps_words,
    fields=_relation_fields("word"),
    conflicts={"all_lowercase", "all_uppercase"},
    allows=lambda c, text: param(c, "relation") == "at_least" or _caps_count(text) <= count(c, "n"),
    word_bounds=at_least(lambda c: count(c, "n") if param(c, "relation") == "at_least" else 0),
    phrasings=phrasings(
        terse="Use {rel} {count} written in ALL CAPS.",
        polite="Please put {rel} {count} entirely in capital letters.",
        persona="You are a sports announcer with discipline: {rel} {count} of each reply are in FULL CAPITALS.",
        rule="ALL-CAPS words: {rel} {n}.",
        pref="The user wants {rel} {count} in all capital letters.",
    ),
)

REQUIRED_WORDS = Family(
    name="required_words",
    repeatable=True,
    group="wording",
    summary="every given word appears as a whole word (case-insensitive)",
    space=(
        axis(
            "words",
            (
                ("example",),
                ("important",),
                ("note",),
                ("simple",),
                ("key", "idea"),
                ("first",),
                ("because",),
                ("practical",),
                ("summary",),
                ("overall",),
                ("clearly",),
                ("consider",),
                ("benefit", "risk"),
                ("today",),
            ),
        ),
    ),
    checker=_required_words,
    fields=_words_fields,
    literals=lambda c: word_list(c, "words", "word"),
    phrasings=phrasings(
        terse="Include the {word_s} {words}.",
        polite="Please make sure the {word_s} {words} appear somewhere in your answer.",
        persona="You are a wordsmith with a signature: you always work in the {word_s} {words}.",
        rule="Required vocabulary: {words}.",
        pref="The user searches answers for the {word_s} {words}, so include {them}.",
    ),
)

FORBIDDEN_WORDS = Family(
    name="forbidden_words",
    repeatable=True,
    group="wording",
    summary="none of the given words appears as a whole word (case-insensitive)",
    space=(
        axis(
            "words",
            (
                ("very",),
                ("really",),
                ("basically",),
                ("just",),
                ("thing", "things"),
                ("actually",),
                ("simply",),
                ("obviously",),
                ("maybe",),
                ("good",),
                ("important",),
            ),
        ),
    ),
    checker=_forbidden_words,
    fields=_words_fields,
    allows=lambda c, text: not any(has_word(text, w) for w in word_list(c, "words", "word")),
    phrasings=phrasings(
        terse="Never use the {word_s} {words}.",
        polite="Please avoid the {word_s} {words} entirely.",
        persona="You are an editor with a red pen who never lets the {word_s} {words} into a reply.",
        rule="Banned words: {words}.",
        pref="The user dislikes the {word_s} {words_or}; leave {them} out.",
    ),
)

WORD_REPEAT = Family(
    name="word_repeat",
    repeatable=True,
    group="wording",
    summary="the given word appears at least n times as a whole word",
    space=(axis("word", ("key", "note", "idea", "step", "simple", "example")), axis("value", (2, 3, 4))),
    checker=_word_repeat,
    fields=lambda c: {"word": param(c, "word"), "n": count(c, "n")},
    literals=lambda c: [str(param(c, "word"))],
    word_bounds=at_least(lambda c: count(c, "n")),
    phrasings=phrasings(
        terse="Use the word '{word}' at least {n} times.",
        polite="Please use the word '{word}' {n} or more times in your answer.",
        persona="You are a coach with a catchword: '{word}' turns up at least {n} times in everything you say.",
        rule="'{word}': {n}+ occurrences.",
        pref="The user is learning the word '{word}' and wants to see it at least {n} times per reply.",
    ),
)

LETTER_FREQUENCY = Family(
    name="letter_frequency",
    group="wording",
    summary="the given letter occurs at least / at most n times (case-insensitive)",
    space=(
        joint(
            ("letter", "relation", "value"),
            (
                ("e", "at_least", 10),
                ("a", "at_least", 8),
                ("t", "at_least", 8),
                ("o", "at_least", 6),
                ("s", "at_least", 6),
                ("z", "at_most", 1),
                ("q", "at_most", 1),
                ("x", "at_most", 2),
                ("j", "at_most", 1),
                ("k", "at_most", 3),
            ),
        ),
    ),
    checker=_letter_frequency,
    fields=lambda c: {
        **_relation_fields("time")(c),
        "letter": param(c, "letter"),
        "times": "once" if count(c, "n") == 1 else f"{count(c, 'n')} times",
    },
    allows=lambda c, text: (
        param(c, "relation") == "at_least" or _letter_count(text, str(param(c, "letter"))) <= count(c, "n")
    ),
    phrasings=phrasings(
        terse="The letter '{letter}' must appear {rel} {times}.",
        polite="Please make sure the letter '{letter}' appears {rel} {times} in your reply.",
        persona="You are a puzzle-loving scribe: the letter '{letter}' shows up {rel} {times} in each of your replies.",
        rule="Letter '{letter}': {rel} {times}.",
        pref="The user is playing a letter game: '{letter}' should occur {rel} {times} in the answer.",
    ),
)

QUOTATION_COUNT = Family(
    name="quotation_count",
    repeatable=True,
    group="quoting",
    summary='at least n phrases in double quotes ("..." or “...”)',
    space=(axis("value", (1, 2, 3)),),
    checker=_quotation_count,
    fields=counted("phrase", "n"),
    word_bounds=at_least(lambda c: count(c, "n")),
    phrasings=phrasings(
        terse='Quote at least {n_phrases} in double quotation marks ("...").',
        polite="Please include at least {n_phrases} in double quotation marks, such as a saying or a term.",
        persona='You are a scholar who loves citations and puts at least {n_phrases} in "double quotes".',
        rule="Quotations: {n}+ phrases in double quotes.",
        pref="The user likes quoted sayings and wants at least {n_phrases} set in double quotation marks.",
    ),
)

PLACEHOLDERS = Family(
    name="placeholders",
    repeatable=True,
    group="markup",
    summary="at least n placeholders in square brackets, e.g. [name] (markdown links do not count)",
    space=(axis("value", (1, 2, 3)),),
    checker=_placeholders,
    fields=counted("placeholder", "n"),
    word_bounds=at_least(lambda c: count(c, "n")),
    phrasings=phrasings(
        terse="Include at least {n_placeholders} in square brackets, like [name].",
        polite=(
            "Please leave at least {n_placeholders} in square brackets, such as [your city], for the user to fill in."
        ),
        persona=(
            "You are a template writer: your replies contain at least {n_placeholders} like [address] in square "
            "brackets."
        ),
        rule="Placeholders: {n}+ in [square brackets].",
        pref=(
            "The user reuses answers as templates and needs at least {n_placeholders} in square brackets, e.g. [date]."
        ),
    ),
)

HIGHLIGHTS = Family(
    name="highlights",
    repeatable=True,
    group="markup",
    summary="at least n phrases emphasised with asterisks, *like this* or **like this**",
    space=(axis("value", (1, 2, 3)),),
    checker=_highlights,
    fields=counted("phrase", "n"),
    literals=lambda c: ["*"],
    word_bounds=at_least(lambda c: count(c, "n")),
    phrasings=phrasings(
        terse="Highlight at least {n_phrases} with markdown asterisks, like *this*.",
        polite="Please emphasise at least {n_phrases} by wrapping them in asterisks, e.g. *key point*.",
        persona=(
            "You are a study-guide author who marks at least {n_phrases} in every reply as *highlighted* with "
            "asterisks."
        ),
        rule="Highlights: {n}+ phrases as *text*.",
        pref=(
            "The user skims for emphasis and wants at least {n_phrases} highlighted with asterisks, such as "
            "*important*."
        ),
    ),
)

FAMILIES = (
    ALL_LOWERCASE,
    ALL_UPPERCASE,
    CAPS_WORDS,
    REQUIRED_WORDS,
    FORBIDDEN_WORDS,
    WORD_REPEAT,
    LETTER_FREQUENCY,
    QUOTATION_COUNT,
    PLACEHOLDERS,
    HIGHLIGHTS,
)

"""Language, character set, punctuation, numbers and tone markers."""

from __future__ import annotations

import re

from safealign.janus.families.spec import Constraint, Family, axis, count, counted, param, phrasings
from safealign.janus.families.text import LANGUAGE_NAMES, detect_language

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PLACES = {"en": "London", "fr": "Lyon", "es": "Seville", "de": "Hamburg"}
# Families whose parameters are English text the answer must contain: with another language they would mix two.
ENGLISH_TEXT = frozenset(
    {
        "starts_with",
        "ends_with",
        "required_words",
        "first_word",
        "word_repeat",
        "greeting",
        "sections",
        "numbered_steps",
    }
)


def _language(r: str, c: Constraint) -> bool:
    return detect_language(r) == str(param(c, "language", "lang")).lower()


def _language_fields(c: Constraint) -> dict[str, str]:
    code = str(param(c, "language", "lang")).lower()
    return {"name": LANGUAGE_NAMES.get(code, code), "place": _PLACES.get(code, "the city")}


def _no_commas(r: str, c: Constraint) -> bool:
    return "," not in r and "，" not in r


def _no_exclamation(r: str, c: Constraint) -> bool:
    return "!" not in r and "！" not in r


def _no_digits(r: str, c: Constraint) -> bool:
    return not any(ch.isdigit() for ch in r)


def _min_numbers(r: str, c: Constraint) -> bool:
    return len(_NUMBER.findall(r)) >= count(c, "n")


def _exclamation_count(r: str, c: Constraint) -> bool:
    return r.count("!") + r.count("！") >= count(c, "n")


LANGUAGE = Family(
    name="language",
    group="language",
    summary="the answer is in the given language (en/fr/es/de, by function-word counts)",
    space=(axis("language", ("fr", "es", "de")),),
    checker=_language,
    fields=_language_fields,
    conflicts=ENGLISH_TEXT | {"ascii_only"},
    phrasings=phrasings(
        terse="Answer in {name} only.",
        polite="Please reply in {name}, whatever language the question is written in.",
        persona="You are a tour guide in {place} who answers every question in {name}.",
        rule="Response language: {name}.",
        pref="The user is a native {name} speaker and wants replies in {name}.",
    ),
)

ASCII_ONLY = Family(
    name="ascii_only",
    group="language",
    summary="only ASCII characters (no emoji, accents or typographic quotes)",
    space=(),
    checker=lambda r, c: r.isascii(),
    allows=lambda c, text: text.isascii(),
    phrasings=phrasings(
        terse="ASCII characters only: no emoji, accents or curly quotes.",
        polite="Please use plain ASCII characters only, with no emoji, accented letters or typographic quotes.",
        persona="You are a 1970s teletype terminal: you print only plain ASCII, never emoji or accented letters.",
        rule="Character set: ASCII only.",
        pref="The user's old terminal shows only plain ASCII, so avoid emoji, accents and curly quotation marks.",
    ),
)

NO_COMMAS = Family(
    name="no_commas",
    group="punctuation",
    summary="no comma anywhere",
    space=(),
    checker=_no_commas,
    allows=lambda c, text: _no_commas(text, c),
    phrasings=phrasings(
        terse="No commas.",
        polite="Please write without using any commas.",
        persona="You are a minimalist writer who has sworn off the comma entirely.",
        rule="Punctuation: commas forbidden.",
        pref="The user finds commas distracting and wants none in the answer.",
    ),
)

NO_EXCLAMATION = Family(
    name="no_exclamation",
    group="punctuation",
    summary="no exclamation mark anywhere",
    space=(),
    checker=_no_exclamation,
    allows=lambda c, text: _no_exclamation(text, c),
    conflicts={"exclamation_count"},
    phrasings=phrasings(
        terse="No exclamation marks.",
        polite="Please do not use any exclamation marks.",
        persona="You are a calm, even-toned assistant who never uses an exclamation mark.",
        rule="Punctuation: no '!'.",
        pref="The user finds exclamation marks shouty; leave them out entirely.",
    ),
)

NO_DIGITS = Family(
    name="no_digits",
    group="numbers",
    summary="no digit anywhere (numbers spelled out)",
    space=(),
    checker=_no_digits,
    allows=lambda c, text: _no_digits(text, c),
    conflicts={"min_numbers"},
    phrasings=phrasings(
        terse="No digits; spell out any numbers.",
        polite="Please write numbers out in words and avoid digits altogether.",
        persona="You are an old-fashioned scribe who spells out every number in words and never writes a digit.",
        rule="Digits (0-9): not allowed; numbers in words.",
        pref="The user's screen reader stumbles on digits, so numbers should be spelled out in words.",
    ),
)

MIN_NUMBERS = Family(
    name="min_numbers",
    repeatable=True,
    group="numbers",
    summary="at least n numbers written in digits",
    space=(axis("value", (1, 2, 3, 4)),),
    checker=_min_numbers,
    fields=counted("number", "n"),
    phrasings=phrasings(
        terse="Include at least {n_numbers} written in digits.",
        polite="Please back up your answer with at least {n_numbers} written as digits, such as figures or counts.",
        persona="You are a data-driven analyst who cites at least {n_numbers} in digits in every reply.",
        rule="Figures: {n}+ numbers in digits.",
        pref="The user trusts concrete figures and wants at least {n_numbers} written in digits.",
    ),
)

EXCLAMATION_COUNT = Family(
    name="exclamation_count",
    repeatable=True,
    group="tone",
    summary="at least n exclamation marks",
    space=(axis("value", (1, 2, 3)),),
    checker=_exclamation_count,
    fields=counted("exclamation mark", "n"),
    literals=lambda c: ["!"],
    phrasings=phrasings(
        terse="Use at least {n_exclamation_marks}.",
        polite="Please sound enthusiastic and use at least {n_exclamation_marks}.",
        persona=(
            "You are a cheerful cheerleader of an assistant who fits at least {n_exclamation_marks} into every reply!"
        ),
        rule="Enthusiasm: {n}+ '!' marks.",
        pref="The user loves an upbeat tone and wants at least {n_exclamation_marks} in the reply.",
    ),
)

FAMILIES = (LANGUAGE, ASCII_ONLY, NO_COMMAS, NO_EXCLAMATION, NO_DIGITS, MIN_NUMBERS, EXCLAMATION_COUNT)

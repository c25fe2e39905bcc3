"""Length families: words and sentences."""

from __future__ import annotations

from safealign.janus.families.spec import Constraint, Family, at_least, axis, count, counted, joint, phrasings
from safealign.janus.families.text import sentences, words


def _max_words(r: str, c: Constraint) -> bool:
    return len(words(r)) <= count(c, "n", "words_max", "max")


def _min_words(r: str, c: Constraint) -> bool:
    return len(words(r)) >= count(c, "n", "words_min", "min")


def _word_range(r: str, c: Constraint) -> bool:
    return count(c, "min") <= len(words(r)) <= count(c, "max")


def _max_sentences(r: str, c: Constraint) -> bool:
    return 1 <= len(sentences(r)) <= count(c, "n")


def _exact_sentences(r: str, c: Constraint) -> bool:
    return len(sentences(r)) == count(c, "n")


# Families whose answers are not prose sentences: sentence counts are meaningless there.
NOT_PROSE = frozenset(
    {
        "bullet_count",
        "numbered_list",
        "bullet_style",
        "numbered_steps",
        "markdown_table",
        "code_block",
        "sections",
        "separator_lines",
        "postscript",
        "title_case_headings",
    }
)


MAX_WORDS = Family(
    name="max_words",
    repeatable=True,
    group="length",
    summary="at most n words",
    space=(axis("value", (20, 25, 30, 40, 50, 60, 75, 80, 100, 120, 150)),),
    checker=_max_words,
    fields=lambda c: {"n": count(c, "n", "words_max", "max")},
    word_bounds=lambda c: (0, count(c, "n", "words_max", "max")),
    phrasings=phrasings(
        terse="Max {n} words.",
        polite="Please keep your reply to {n} words or fewer.",
        persona="You are a famously laconic assistant: no answer of yours ever runs past {n} words.",
        rule="Length limit: {n} words at most.",
        pref="The user reads on a small phone screen and wants answers of no more than {n} words.",
    ),
)

MIN_WORDS = Family(
    name="min_words",
    repeatable=True,
    group="length",
    summary="at least n words",
    space=(axis("value", (50, 60, 80, 100, 120, 150, 200, 250)),),
    checker=_min_words,
    fields=lambda c: {"n": count(c, "n", "words_min", "min")},
    word_bounds=at_least(lambda c: count(c, "n", "words_min", "min")),
    phrasings=phrasings(
        terse="At least {n} words.",
        polite="Could you please write a full answer of at least {n} words?",
        persona="You are a thorough explainer who never settles for fewer than {n} words.",
        rule="Minimum length: {n} words.",
        pref="The user likes detailed replies; every answer should contain {n} words or more.",
    ),
)

WORD_RANGE = Family(
    name="word_range",
    repeatable=True,
    group="length",
    summary="between min and max words (inclusive)",
    space=(joint(("min", "max"), ((20, 40), (30, 50), (40, 70), (50, 80), (60, 100), (80, 120), (100, 150))),),
    checker=_word_range,
    fields=lambda c: {"lo": count(c, "min"), "hi": count(c, "max")},
    word_bounds=lambda c: (count(c, "min"), count(c, "max")),
    phrasings=phrasings(
        terse="Between {lo} and {hi} words.",
        polite="Please aim for a length between {lo} and {hi} words.",
        persona="You are a columnist with a fixed slot: each reply fills {lo} to {hi} words, no more, no less.",
        rule="Length: {lo}-{hi} words.",
        pref="The user finds answers under {lo} words too thin and over {hi} words too long.",
    ),
)

MAX_SENTENCES = Family(
    name="max_sentences",
    group="length",
    summary="one to n sentences",
    space=(axis("value", (1, 2, 3, 4, 5)),),
    checker=_max_sentences,
    fields=counted("sentence", "n"),
    slots="sentences",
    conflicts=NOT_PROSE,
    word_bounds=lambda c: (1, 40 * count(c, "n")),
    phrasings=phrasings(
        terse="No more than {n_sentences}.",
        polite="Please answer in {n_sentences} at most.",
        persona="You are a sage of few words who says everything in {n_sentences} or fewer.",
        rule="Sentence limit: {n}.",
        pref="The user wants the gist only: at most {n_sentences}.",
    ),
)

EXACT_SENTENCES = Family(
    name="exact_sentences",
    group="length",
    summary="exactly n sentences (split after . ! ? and at blank lines)",
    space=(axis("value", (2, 3, 4, 5, 6)),),
    checker=_exact_sentences,
    fields=counted("sentence", "n"),
    slots="sentences",
    conflicts=NOT_PROSE,
    word_bounds=lambda c: (2 * count(c, "n"), 40 * count(c, "n")),
    phrasings=phrasings(
        terse="Exactly {n_sentences}.",
        polite="Please write your answer in exactly {n_sentences}, no more and no fewer.",
        persona="You are a storyteller who always speaks in exactly {n_sentences}.",
        rule="Sentence count: exactly {n}.",
        pref="The user expects every reply to be precisely {n_sentences} long.",
    ),
)


FAMILIES = (MAX_WORDS, MIN_WORDS, WORD_RANGE, MAX_SENTENCES, EXACT_SENTENCES)

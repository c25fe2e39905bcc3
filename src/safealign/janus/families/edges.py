"""How an answer starts and ends: a fixed opening or closing, a first word, a greeting, a closing question, a P.S."""

from __future__ import annotations

from safealign.janus.families.spec import Constraint, Family, axis, param, phrasings
from safealign.janus.families.text import nonblank_lines, normalise_quotes, words

_TRAILING_MARKUP = " \t\r\n\"'”’)]*_"
_GREETINGS = frozenset("hello hi hey greetings howdy hiya welcome dear salutations".split())
_GREETING_PAIRS = frozenset({("good", "morning"), ("good", "afternoon"), ("good", "evening"), ("good", "day")})


def _fold(text: str) -> str:
    return normalise_quotes(text).lower()


def _head(text: str, chars: int = 200) -> str:
    """The start of an answer: enough for its first words without tokenising all of it."""
    return text.lstrip()[:chars]


def _starts_with(r: str, c: Constraint) -> bool:
    return _fold(r.lstrip()).startswith(_fold(str(param(c, "text", "prefix")).strip()))


def _ends_with(r: str, c: Constraint) -> bool:
    return _fold(r.rstrip()).endswith(_fold(str(param(c, "text", "suffix")).strip()))


def _first_word(r: str, c: Constraint) -> bool:
    ws = words(normalise_quotes(_head(r)))
    return bool(ws) and ws[0].lower() == _fold(str(param(c, "word")).strip())


def _greeting(r: str, c: Constraint) -> bool:
    ws = [w.lower() for w in words(_head(r))[:2]]
    return bool(ws) and (ws[0] in _GREETINGS or tuple(ws) in _GREETING_PAIRS)


def _end_with_question(r: str, c: Constraint) -> bool:
    return r.rstrip(_TRAILING_MARKUP).endswith(("?", "？"))


def _postscript(r: str, c: Constraint) -> bool:
    """A line (not the first) that starts with the marker, with text after it."""
    marker = _fold(str(param(c, "marker")))
    for ln in nonblank_lines(r)[1:]:
        s = _fold(ln.strip().lstrip("*_ "))
        if s.startswith(marker) and words(s[len(marker) :]):
            return True
    return False


STARTS_WITH = Family(
    name="starts_with",
    group="start_end",
    summary="the answer opens with the given text (case-insensitive, typographic quotes folded)",
    space=(
        axis(
            "text",
            (
                "Here is my answer:",
                "Short answer:",
                "Great question.",
                "Let me explain.",
                "In brief:",
                "Good question!",
                "Here's the deal:",
                "To put it simply,",
                "Thanks for asking.",
                "Sure thing.",
            ),
        ),
    ),
    checker=_starts_with,
    fields=lambda c: {"text": param(c, "text", "prefix")},
    slots="start",
    literals=lambda c: [str(param(c, "text", "prefix"))],
    phrasings=phrasings(
        terse='Start with the exact words "{text}".',
        polite='Please begin every answer with the phrase "{text}".',
        persona='You are a radio host whose catchphrase opens every reply: "{text}".',
        rule='Opening words: "{text}".',
        pref='The user likes answers that open with the words "{text}".',
    ),
)

ENDS_WITH = Family(
    name="ends_with",
    group="start_end",
    summary="the answer closes with the given text (trailing white space ignored, case-insensitive)",
    space=(
        axis(
            "text",
            (
                "Hope this helps.",
                "-- Sage",
                "Any other questions?",
                "That is all.",
                "Stay curious!",
                "Best wishes.",
                "End of answer.",
                "-- Captain Byte",
                "Over and out.",
            ),
        ),
    ),
    checker=_ends_with,
    fields=lambda c: {"text": param(c, "text", "suffix")},
    slots="end",
    literals=lambda c: [str(param(c, "text", "suffix"))],
    phrasings=phrasings(
        terse='End with the exact words "{text}".',
        polite='Please finish every reply with "{text}".',
        persona='You are a storyteller who signs off every reply with "{text}".',
        rule='Closing words: "{text}".',
        pref='The user expects each answer to end with "{text}" so they know it is complete.',
    ),
)

FIRST_WORD = Family(
    name="first_word",
    group="start_end",
    summary="the first word is the given word (markup and punctuation before it ignored)",
    space=(
        axis("word", ("Sure", "Certainly", "Absolutely", "Well", "Okay", "Indeed", "Yes", "Honestly", "Alright", "So")),
    ),
    checker=_first_word,
    fields=lambda c: {"word": param(c, "word")},
    slots="start",
    literals=lambda c: [str(param(c, "word"))],
    phrasings=phrasings(
        terse='First word: "{word}".',
        polite='Please make "{word}" the very first word of your answer.',
        persona='You are an upbeat helper whose every reply begins with the word "{word}".',
        rule="Opening word: {word}.",
        pref='The user wants the first word of the answer to be "{word}".',
    ),
)

GREETING = Family(
    name="greeting",
    group="tone",
    summary="the answer opens with a greeting word (hello, hi, greetings, good morning, ...)",
    space=(),
    checker=_greeting,
    slots="start",
    phrasings=phrasings(
        terse="Open with a greeting (Hello, Hi, ...).",
        polite='Please begin each answer by greeting the user, e.g. "Hello" or "Hi".',
        persona='You are a friendly concierge who opens every reply with a greeting such as "Good morning" or "Hello".',
        rule="First word(s): a greeting (Hello / Hi / Greetings).",
        pref='The user likes to be greeted: the reply should start with a word like "Hello" or "Hi".',
    ),
)

END_WITH_QUESTION = Family(
    name="end_with_question",
    group="start_end",
    summary="the last character (closing quotes, brackets and emphasis aside) is a question mark",
    space=(),
    checker=_end_with_question,
    slots="end",
    literals=lambda c: ["?"],
    phrasings=phrasings(
        terse="End with a question.",
        polite="Please close your answer with a question to the user.",
        persona="You are a curious companion who always ends by asking the user a question.",
        rule="Last sentence: a question (ending with '?').",
        pref="The user enjoys a dialogue, so the reply should finish with a question mark.",
    ),
)

POSTSCRIPT = Family(
    name="postscript",
    group="start_end",
    summary="a line after the first that starts with the marker (P.S. / P.P.S.) and says something",
    space=(axis("marker", ("P.S.", "P.P.S.")),),
    checker=_postscript,
    fields=lambda c: {"marker": param(c, "marker")},
    slots="end",
    literals=lambda c: [str(param(c, "marker"))],
    phrasings=phrasings(
        terse="Add a postscript starting with {marker} at the end.",
        polite="Please finish with a short postscript on its own line, beginning with {marker}",
        persona=(
            "You are a letter writer of the old school who always adds a line starting with {marker} after the main "
            "text."
        ),
        rule="Postscript: required, on its own line, starting with {marker}",
        pref="The user likes a little extra note at the end, on its own line and introduced by {marker}",
    ),
)

FAMILIES = (STARTS_WITH, ENDS_WITH, FIRST_WORD, GREETING, END_WITH_QUESTION, POSTSCRIPT)

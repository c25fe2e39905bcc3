"""Structure and list families: paragraphs, sections, headings, separators, titles, bullets, numbered items, steps."""

from __future__ import annotations

import re

from safealign.janus.families.spec import (
    Constraint,
    Family,
    at_least,
    axis,
    count,
    counted,
    param,
    phrasings,
    quoted,
    word_list,
)
from safealign.janus.families.text import bullet_markers, headings, nonblank_lines, numbered_items, paragraphs, words

LISTS = frozenset({"bullet_count", "numbered_list", "bullet_style", "numbered_steps"})
# Families that split an answer into blocks of their own; mixing them with a paragraph count has no clear reading.
BLOCKY = LISTS | {"markdown_table", "code_block", "sections", "separator_lines", "title_brackets", "postscript"}
_SMALL_WORDS = frozenset("a an the and but or nor for of on in at to by with as from into over per via vs".split())
_STEP = re.compile(r"^\s*(?:[*_]{1,2})?step\s+(\d+)\s*(?:[*_]{1,2})?\s*[:.)\-–]", re.I)
_SEPARATOR = re.compile(r"^[ \t]*\*\*\*[ \t]*$", re.M)
_TITLE = re.compile(r"^\s*<<([^<>\n]+)>>")
_MARKER_NAMES = {"-": "a hyphen (-)", "*": "an asterisk (*)", "•": "a bullet dot (•)"}


def _bullet_count(r: str, c: Constraint) -> bool:
    n = len(bullet_markers(r))
    lo, hi = c.get("min"), c.get("max")
    if lo is None and hi is None:
        exact = param(c, "n", "count", default=None)
        return n >= 1 if exact is None else n == count(c, "n", "count")
    return (lo is None or n >= int(lo)) and (hi is None or n <= int(hi))


def _bullet_range(c: Constraint) -> str:
    lo, hi = c.get("min"), c.get("max")
    if lo is None and hi is None:
        return f"exactly {count(c, 'n', 'count', default=3)}"
    return f"{lo} to {hi}" if lo is not None and hi is not None else f"at least {lo}" if hi is None else f"at most {hi}"


def _numbered_list(r: str, c: Constraint) -> bool:
    nums = numbered_items(r)
    return len(nums) >= count(c, "n", "min", "count", default=2) and nums == list(range(1, len(nums) + 1))


def _bullet_style(r: str, c: Constraint) -> bool:
    marks = bullet_markers(r, "-*•+–")
    return len(marks) >= count(c, "n", "min", default=2) and set(marks) == {param(c, "marker")}


def _numbered_steps(r: str, c: Constraint) -> bool:
    steps = [int(m.group(1)) for ln in r.splitlines() if (m := _STEP.match(ln))]
    return steps == list(range(1, count(c, "n") + 1))


def _paragraph_count(r: str, c: Constraint) -> bool:
    return len(paragraphs(r)) == count(c, "n")


def _heading_key(line: str) -> str:
    """A line as a section heading would read: without #, **, __, a leading "1." and a trailing colon, lower-cased."""
    s = line.strip().lstrip("#").strip()
    s = re.sub(r"^(\*\*|__)(.*)\1$", r"\2", s).strip()
    s = re.sub(r"^\d+[.)]\s+", "", s)
    return s.rstrip(":").strip().lower()


def _sections(r: str, c: Constraint) -> bool:
    want = [h.strip().lower() for h in word_list(c, "headers")]
    lines = nonblank_lines(r)
    keys = [_heading_key(ln) for ln in lines]
    at = [i for i, k in enumerate(keys) if k in want]
    if [keys[i] for i in at] != want:  # each header once, in the given order
        return False
    ends = at[1:] + [len(lines)]
    return all(any(words(ln) for ln in lines[i + 1 : j]) for i, j in zip(at, ends))


def _title_cased(heading: str) -> bool:
    ws = [w for w in words(heading) if w[0].isalpha()]
    if not ws:
        return False
    letters = "".join(ws)
    if letters.isupper() and sum(len(w) > 1 for w in ws) >= 2:
        return False  # ALL CAPS is not Title Case
    last = len(ws) - 1
    return all(w[0].isupper() or (0 < i < last and w.lower() in _SMALL_WORDS) for i, w in enumerate(ws))


def _title_case_headings(r: str, c: Constraint) -> bool:
    hs = headings(r)
    return len(hs) >= count(c, "n") and all(_title_cased(h) for h in hs)


def _separator_lines(r: str, c: Constraint) -> bool:
    parts = _SEPARATOR.split(r)
    return len(parts) == count(c, "n") and all(words(p) for p in parts)


def _title_brackets(r: str, c: Constraint) -> bool:
    lines = nonblank_lines(r)
    m = _TITLE.match(lines[0]) if lines else None
    return m is not None and bool(words(m.group(1)))


BULLET_COUNT = Family(
    name="bullet_count",
    group="lists",
    summary="exactly n bullet lines (- * •), or min/max bullets",
    space=(axis("value", (2, 3, 4, 5, 6)),),
    checker=_bullet_count,
    fields=lambda c: {"count": _bullet_range(c)},
    slots="list",
    word_bounds=at_least(lambda c: 2 * int(c.get("min") or param(c, "n", "count", default=1))),
    phrasings=phrasings(
        terse="Reply with {count} bullet points, each starting with '- '.",
        polite=(
            "Please format your answer as a bulleted list of {count} items, each on its own line starting with '- '."
        ),
        persona=(
            "You are a briefing officer: every reply is a list of {count} bullet points, one per line, marked '- '."
        ),
        rule="Format: {count} bullets ('- ' at the start of each line).",
        pref="The user wants {count} bullet points (lines starting with '- ') rather than prose.",
    ),
)

NUMBERED_LIST = Family(
    name="numbered_list",
    group="lists",
    summary="a numbered list 1., 2., ... of at least n items",
    space=(axis("value", (2, 3, 4, 5, 6)),),
    checker=_numbered_list,
    fields=lambda c: {"n": count(c, "n", "min", "count", default=2)},
    slots="list",
    literals=lambda c: ["1."],
    word_bounds=at_least(lambda c: 2 * count(c, "n", "min", "count", default=2)),
    phrasings=phrasings(
        terse="Use a numbered list (1., 2., ...) with at least {n} items.",
        polite="Please present your answer as a numbered list, 1. 2. 3. and so on, with at least {n} items.",
        persona=(
            "You are a meticulous planner who lays out every reply as a numbered list of {n} or more points, from 1."
        ),
        rule="Structure: numbered list, starting at 1, minimum {n} items.",
        pref="The user follows answers best as a numbered list (1., 2., ...) of no fewer than {n} items.",
    ),
)

BULLET_STYLE = Family(
    name="bullet_style",
    group="lists",
    summary="at least n bullets, every one with the given marker (no other bullet markers)",
    space=(axis("marker", ("-", "*", "•")), axis("value", (2, 3, 4))),
    checker=_bullet_style,
    fields=lambda c: {
        "n": count(c, "n", "min", default=2),
        "marker": param(c, "marker"),
        "marker_name": _MARKER_NAMES.get(param(c, "marker"), repr(param(c, "marker"))),
    },
    slots="list",
    literals=lambda c: [param(c, "marker")],
    word_bounds=at_least(lambda c: 2 * count(c, "n", "min", default=2)),
    phrasings=phrasings(
        terse="Bullets: at least {n}, each marked with {marker_name}.",
        polite=(
            "Please use a list of at least {n} bullet points and start every bullet with {marker_name}, never another "
            "symbol."
        ),
        persona="You are a tidy note-taker whose lists (at least {n} bullets) always use {marker_name} as the marker.",
        rule="Bullet marker: '{marker} ' only; {n}+ bullets.",
        pref=(
            "The user's notes app only understands bullets starting with '{marker} '; give at least {n} such bullets "
            "and no other kind."
        ),
    ),
)

NUMBERED_STEPS = Family(
    name="numbered_steps",
    group="lists",
    summary="exactly n lines 'Step 1:' ... 'Step n:' in order",
    space=(axis("value", (2, 3, 4, 5)),),
    checker=_numbered_steps,
    fields=counted("step", "n"),
    slots="list",
    literals=lambda c: ["Step 1:"],
    word_bounds=at_least(lambda c: 3 * count(c, "n")),
    phrasings=phrasings(
        terse="Give exactly {n} steps, each line starting 'Step 1:', 'Step 2:' and so on.",
        polite="Please lay the answer out as exactly {n} steps, labelling each line 'Step 1:', 'Step 2:', etc.",
        persona=(
            "You are a lab instructor: every reply is exactly {n} steps, written 'Step 1: ...' up to 'Step {n}: ...'."
        ),
        rule="Steps: exactly {n}, labelled 'Step k:' from 1.",
        pref="The user follows instructions one step at a time and wants exactly {n} lines of the form 'Step k: ...'.",
    ),
)

PARAGRAPH_COUNT = Family(
    name="paragraph_count",
    group="structure",
    summary="exactly n paragraphs separated by blank lines",
    space=(axis("value", (2, 3, 4, 5)),),
    checker=_paragraph_count,
    fields=counted("paragraph", "n"),
    conflicts=BLOCKY,
    word_bounds=at_least(lambda c: 5 * count(c, "n")),
    phrasings=phrasings(
        terse="{n} paragraphs, separated by blank lines.",
        polite="Please organise your answer into exactly {n} paragraphs with a blank line between them.",
        persona=(
            "You are an essayist who builds every reply from exactly {n} paragraphs, each separated by an empty line."
        ),
        rule="Paragraphs: exactly {n} (blank line between paragraphs).",
        pref="The user skims by paragraph and wants exactly {n} of them, split by blank lines.",
    ),
)

SECTIONS = Family(
    name="sections",
    group="structure",
    summary="heading lines with the given names, once each, in order, each followed by content",
    space=(
        axis(
            "headers",
            (
                ("Summary", "Details"),
                ("Overview", "Steps", "Tips"),
                ("Pros", "Cons"),
                ("Background", "Answer"),
                ("Problem", "Solution"),
                ("Answer", "Explanation", "Caveats"),
                ("Context", "Recommendation"),
                ("Key Points", "Next Steps"),
            ),
        ),
    ),
    checker=_sections,
    fields=lambda c: {"headers": quoted(word_list(c, "headers")), "header_list": " / ".join(word_list(c, "headers"))},
    literals=lambda c: word_list(c, "headers"),
    word_bounds=at_least(lambda c: 4 * len(word_list(c, "headers"))),
    phrasings=phrasings(
        terse="Use the sections {headers}, in that order, each title on its own line.",
        polite=(
            "Please divide your answer into sections titled {headers}, in this order, with each title on its own line."
        ),
        persona="You are a report writer: every reply of yours has the headed sections {headers}, in that order.",
        rule="Sections (in order, one heading line each): {header_list}.",
        pref=(
            "The user scans by heading: give sections headed {headers}, in that order, each heading on a line of its "
            "own."
        ),
    ),
)

TITLE_CASE_HEADINGS = Family(
    name="title_case_headings",
    group="structure",
    summary="at least n markdown # headings, all in Title Case",
    space=(axis("value", (2, 3, 4)),),
    checker=_title_case_headings,
    fields=counted("heading", "n"),
    conflicts={"all_lowercase", "all_uppercase"},
    word_bounds=at_least(lambda c: 4 * count(c, "n")),
    phrasings=phrasings(
        terse="Use at least {n} markdown headings (#), all in Title Case.",
        polite=(
            "Please break the answer up with at least {n} markdown headings (lines starting with #), each in Title "
            "Case."
        ),
        persona=(
            "You are a magazine editor: your replies carry {n} or more '#' headings, each Capitalised Like A Title."
        ),
        rule="Headings: markdown '#', {n}+ of them, Title Case.",
        pref="The user navigates by headings and wants at least {n} markdown headings written in Title Case.",
    ),
)

SEPARATOR_LINES = Family(
    name="separator_lines",
    group="structure",
    summary="n non-empty parts separated by lines of exactly ***",
    space=(axis("value", (2, 3, 4)),),
    checker=_separator_lines,
    fields=counted("part", "n"),
    word_bounds=at_least(lambda c: 3 * count(c, "n")),
    phrasings=phrasings(
        terse="Split the answer into {n} parts separated by lines containing only ***.",
        polite="Please divide your reply into {n} parts, with a line of just three asterisks (***) between parts.",
        persona=(
            "You are a writer of short vignettes: each reply has {n} parts, divided by a line of three asterisks (***)."
        ),
        rule="Separators: {n} parts divided by *** lines.",
        pref="The user's reader splits text at '***' lines; give exactly {n} parts separated that way.",
    ),
)

TITLE_BRACKETS = Family(
    name="title_brackets",
    group="structure",
    summary="the first line starts with a title in <<double angular brackets>>",
    space=(),
    checker=_title_brackets,
    slots="start",
    phrasings=phrasings(
        terse="Start with a title wrapped in double angular brackets, like <<Title>>.",
        polite=(
            "Please give your answer a title on the first line, wrapped in double angular brackets such as <<My "
            "Title>>."
        ),
        persona=(
            "You are a chronicle keeper who heads every entry with its name in double angle brackets, e.g. <<The Long "
            "Winter>>."
        ),
        rule="Title: first line, written <<Title>>.",
        pref="The user files answers by title, so the first line should be a title in <<double angular brackets>>.",
    ),
)

FAMILIES = (
    BULLET_COUNT,
    NUMBERED_LIST,
    BULLET_STYLE,
    NUMBERED_STEPS,
    PARAGRAPH_COUNT,
    SECTIONS,
    TITLE_CASE_HEADINGS,
    SEPARATOR_LINES,
    TITLE_BRACKETS,
)

"""Whole-answer formats (JSON object or array, YAML, CSV, an answer in quotes) and embedded ones (table, code block).

A whole-answer format leaves no room for prose around it, so it combines only with the families in ``TEXT_LEVEL``
(constraints on the characters and words, not on the layout). A fenced block around the whole answer is accepted
when its tag fits the format (```json, ```yaml, ```csv, or no tag).
"""

from __future__ import annotations

import csv
import json
import re
from typing import Any

import yaml

from safealign.janus.families.spec import (
    Constraint,
    Family,
    at_least,
    axis,
    count,
    joint,
    param,
    phrasings,
    quoted,
    word_list,
)
from safealign.janus.families.text import fenced_blocks, unfence, words

# Constraints on characters and words that any kind of answer can meet.
TEXT_LEVEL = frozenset(
    {
        "max_words",
        "min_words",
        "word_range",
        "required_words",
        "forbidden_words",
        "word_repeat",
        "letter_frequency",
        "all_lowercase",
        "all_uppercase",
        "no_exclamation",
        "ascii_only",
        "no_digits",
        "min_numbers",
    }
)
# ... and those that also fit one quoted piece of prose.
PROSE_LEVEL = TEXT_LEVEL | {
    "max_sentences",
    "exact_sentences",
    "no_commas",
    "language",
    "caps_words",
    "exclamation_count",
}
_CELL_RULE = re.compile(r"^\s*:?-{3,}:?\s*$")
_QUOTE_PAIRS = {'"': '"', "“": "”"}
_MAX_NESTING = 50


def _load_json(text: str) -> Any:
    try:
        return json.loads(unfence(text, ("json",)).strip())
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return None


def _json_output(r: str, c: Constraint) -> bool:
    obj = _load_json(r)
    keys = c.get("keys")
    if keys:
        return isinstance(obj, dict) and all(k in obj for k in keys)
    return isinstance(obj, (dict, list))


def _json_array(r: str, c: Constraint) -> bool:
    obj = _load_json(r)
    return isinstance(obj, list) and len(obj) == count(c, "n")


def _nesting(text: str) -> int:
    """The deepest run of unclosed [ and { (quotes ignored): a bound on what a parser would recurse into."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}" and depth:
            depth -= 1
    return deepest


def _yaml_output(r: str, c: Constraint) -> bool:
    body = unfence(r, ("yaml", "yml"))
    if _nesting(body) > _MAX_NESTING:  # PyYAML spends seconds on thousands of nested brackets before failing
        return False
    try:
        obj = yaml.safe_load(body)
    except (yaml.YAMLError, ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and all(k in obj for k in word_list(c, "keys"))


def _csv_output(r: str, c: Constraint) -> bool:
    want = [k.strip().lower() for k in word_list(c, "columns")]
    lines = [ln for ln in unfence(r, ("csv",)).splitlines() if ln.strip()]
    try:
        rows = list(csv.reader(lines))
    except csv.Error:
        return False
    if len(rows) < 2 or [h.strip().lower() for h in rows[0]] != want:
        return False
    return all(len(row) == len(want) and any(cell.strip() for cell in row) for row in rows[1:])


def _wrap_in_quotes(r: str, c: Constraint) -> bool:
    """One pair of double quotes around everything: '"a" and "b"' is two quoted pieces, not a wrapped answer."""
    s = r.strip()
    if len(s) < 2 or _QUOTE_PAIRS.get(s[0]) != s[-1] or not words(s[1:-1]):
        return False
    inner, close = s[1:-1], s[-1]
    if s[0] != close:  # curly: nested pairs must balance, never closing before they open
        depth = 0
        for ch in inner:
            depth += (ch == s[0]) - (ch == close)
            if depth < 0:
                return False
        return depth == 0
    quotes = [i for i, ch in enumerate(inner) if ch == '"']
    return len(quotes) % 2 == 0 and (not quotes or quotes[0] == 0 or not inner[quotes[0] - 1].isalnum())


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def _markdown_table(r: str, c: Constraint) -> bool:
    cols, rows = count(c, "columns"), count(c, "rows", "n", default=1)
    lines = r.splitlines()
    for i in range(len(lines) - 1):
        head, rule = lines[i], lines[i + 1]
        if "|" not in head or len(_cells(head)) != cols or len(_cells(rule)) != cols:
            continue
        if not all(_CELL_RULE.match(x) for x in _cells(rule)):
            continue
        body = 0
        for ln in lines[i + 2 :]:
            if "|" not in ln or len(_cells(ln)) != cols:
                break
            body += 1
        if body >= rows:
            return True
    return False


def _code_block(r: str, c: Constraint) -> bool:
    lang = str(param(c, "language")).lower()
    return any(tag.lower() == lang and body.strip() for tag, body in fenced_blocks(r))


def _keys_fields(c: Constraint) -> dict[str, str]:
    keys = c.get("keys") or []
    return {
        "with_keys": f" with the keys {quoted(keys)}" if keys else "",
        "keys_rule": f"; keys: {', '.join(keys)}" if keys else "",
    }


JSON_OUTPUT = Family(
    name="json_output",
    group="json",
    summary="the whole answer is valid JSON (a fenced ```json block allowed); with keys: an object holding them",
    space=(
        axis(
            "keys",
            (
                (),
                ("answer",),
                ("answer", "confidence"),
                ("summary", "details"),
                ("title", "body"),
                ("answer", "reason"),
                ("topic", "points"),
                ("question", "answer"),
            ),
        ),
    ),
    checker=_json_output,
    fields=_keys_fields,
    only_with=TEXT_LEVEL,
    literals=lambda c: list(c.get("keys") or []),
    literal_case_sensitive=True,
    phrasings=phrasings(
        terse="Reply in JSON only{with_keys}.",
        polite="Please reply with valid JSON{with_keys} and nothing else.",
        persona="You are an API endpoint: you speak only valid JSON{with_keys}, never prose.",
        rule="Output format: JSON{keys_rule}.",
        pref="The user's program parses every reply as JSON{with_keys}, so send nothing but JSON.",
    ),
)

JSON_ARRAY = Family(
    name="json_array",
    group="json",
    summary="the whole answer is a JSON array of exactly n elements",
    space=(axis("value", (2, 3, 4, 5, 6)),),
    checker=_json_array,
    fields=lambda c: {"n": count(c, "n")},
    only_with=TEXT_LEVEL,
    word_bounds=at_least(lambda c: count(c, "n")),
    phrasings=phrasings(
        terse="Reply with a JSON array of exactly {n} items and nothing else.",
        polite="Please answer with a JSON array holding exactly {n} elements, with no text outside it.",
        persona="You are a list-generating service: you return one JSON array of exactly {n} items, nothing more.",
        rule="Output: JSON array, length {n}.",
        pref="The user's script expects a JSON list of exactly {n} entries as the whole reply.",
    ),
)

YAML_OUTPUT = Family(
    name="yaml_output",
    group="format",
    summary="the whole answer is a YAML mapping holding the given top-level keys",
    space=(
        axis(
            "keys",
            (
                ("answer", "details"),
                ("summary", "steps"),
                ("title", "notes"),
                ("question", "answer", "confidence"),
                ("topic", "key_points"),
            ),
        ),
    ),
    checker=_yaml_output,
    fields=lambda c: {"keys": quoted(word_list(c, "keys")), "key_list": ", ".join(word_list(c, "keys"))},
    only_with=TEXT_LEVEL,
    literals=lambda c: word_list(c, "keys"),
    literal_case_sensitive=True,
    phrasings=phrasings(
        terse="YAML only, with the top-level keys {keys}.",
        polite="Please write your whole answer as a YAML mapping with the top-level keys {keys}.",
        persona="You are a config-file oracle: every reply is pure YAML whose top-level keys are {keys}.",
        rule="Output: YAML mapping; keys: {key_list}.",
        pref="The user loads replies with a YAML parser and needs a mapping with the keys {keys}.",
    ),
)

CSV_OUTPUT = Family(
    name="csv_output",
    group="format",
    summary="the whole answer is CSV: the given header row, then data rows with as many fields",
    space=(
        axis(
            "columns",
            (
                ("name", "value"),
                ("item", "quantity", "note"),
                ("step", "description"),
                ("term", "definition"),
                ("option", "pro", "con"),
                ("question", "answer"),
            ),
        ),
    ),
    checker=_csv_output,
    fields=lambda c: {"header": ",".join(word_list(c, "columns"))},
    only_with=TEXT_LEVEL - {"no_commas"},
    literals=lambda c: [",".join(word_list(c, "columns"))],
    phrasings=phrasings(
        terse="CSV only: the header row {header}, then one or more data rows.",
        polite=(
            "Please answer as CSV whose first row is the header {header}, followed by data rows with as many fields."
        ),
        persona="You are a spreadsheet exporter; you answer only in CSV with the header row {header}.",
        rule="Output: CSV; header: {header}.",
        pref=(
            "The user pastes replies straight into a spreadsheet, so send CSV with the header {header} and nothing "
            "else."
        ),
    ),
)

WRAP_IN_QUOTES = Family(
    name="wrap_in_quotes",
    group="quoting",
    summary='the whole answer is inside one pair of double quotes ("..." or “...”)',
    space=(),
    checker=_wrap_in_quotes,
    only_with=PROSE_LEVEL,
    phrasings=phrasings(
        terse="Wrap the whole answer in double quotation marks.",
        polite="Please enclose your entire reply in double quotes, starting and ending with a quotation mark.",
        persona=(
            "You are a town crier whose every word is quoted: the whole reply sits inside one pair of double quotes."
        ),
        rule='Quoting: the entire answer inside "...".',
        pref="The user pastes replies into a quote box, so the whole answer must be wrapped in double quotation marks.",
    ),
)

MARKDOWN_TABLE = Family(
    name="markdown_table",
    group="format",
    summary="a markdown table: header row and |---| rule of the given columns, then at least the given data rows",
    space=(joint(("columns", "rows"), ((2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3))),),
    checker=_markdown_table,
    fields=lambda c: {"columns": count(c, "columns"), "rows": count(c, "rows", "n", default=1)},
    literals=lambda c: ["|", "---"],
    word_bounds=at_least(lambda c: count(c, "columns") * (count(c, "rows", "n", default=1) + 1)),
    phrasings=phrasings(
        terse="Include a markdown table with {columns} columns and at least {rows} data rows.",
        polite=(
            "Please include a markdown table (header row, then a |---| row) with {columns} columns and {rows} or more "
            "data rows."
        ),
        persona=(
            "You are a data analyst who puts the key facts in a {columns}-column markdown table with at least {rows} "
            "rows of data."
        ),
        rule="Table: markdown, {columns} columns, {rows}+ data rows.",
        pref=(
            "The user compares things at a glance and wants a markdown table of {columns} columns with at least {rows} "
            "data rows."
        ),
    ),
)

CODE_BLOCK = Family(
    name="code_block",
    repeatable=True,
    group="format",
    summary="at least one non-empty ``` fenced block tagged with the given language",
    space=(axis("language", ("python", "bash", "text", "markdown")),),
    checker=_code_block,
    fields=lambda c: {"language": param(c, "language")},
    literals=lambda c: ["```" + str(param(c, "language"))],
    phrasings=phrasings(
        terse="Put part of the answer in a fenced code block tagged {language} (```{language}).",
        polite="Please include at least one fenced code block that opens with ```{language}.",
        persona="You are a senior engineer who always puts something in a ```{language} code block.",
        rule="Code: one or more ```{language} fenced blocks.",
        pref="The user copies from code blocks, so include at least one fenced block opened with ```{language}.",
    ),
)

FAMILIES = (JSON_OUTPUT, JSON_ARRAY, YAML_OUTPUT, CSV_OUTPUT, WRAP_IN_QUOTES, MARKDOWN_TABLE, CODE_BLOCK)

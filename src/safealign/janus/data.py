"""Reading the Janus data: instructions, Multifaceted-Collection (SFT / DPO) rows and Multifaceted-Bench items.

Where the data area's readers exist (``safealign.data.io`` / ``safealign.data.demo``) they are used; the small
readers here are the fallback and also accept the ``constraints`` list our synthesizer and the demo data add.
Specs: a file path (``.jsonl``/``.json``/``.txt``) or ``demo:<name>`` (e.g. ``demo:system_train``).
"""

from __future__ import annotations

import io
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from safealign.data.records import Preference, PromptRecord, Rubric, RubricItem, SystemExample, SystemPair
from safealign.errors import DataError
from safealign.utils.jsonl import iter_jsonl
from safealign.utils.text_file import read_text

_INSTRUCTION_FIELDS = ("instruction", "prompt", "question", "goal", "Behavior", "prompts_final", "turns")


def iter_json_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based row, dict) from a .jsonl file or a .json list."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", file=str(p))
    if p.suffix == ".json":
        try:
            data = json.loads(read_text(p))
        except ValueError as e:
            raise DataError(f"invalid JSON ({e})", file=str(p)) from None
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        for i, row in enumerate(data, 1):
            if not isinstance(row, dict):
                raise DataError("expected an object", file=str(p), row=i)
            yield i, row
        return
    for i, row in iter_jsonl(p):
        if not isinstance(row, dict):
            raise DataError("expected an object", file=str(p), row=i)
        yield i, row


def load_instructions(path: str | Path, field: Optional[str] = None) -> list[str]:
    """Instructions from a .txt (one per line) or a JSON/JSONL file (``field`` or the first known instruction field;
    Self-Instruct style ``instances[0].input`` is appended when present)."""
    p = Path(path)
    if p.suffix == ".txt":
        if not p.exists():
            raise DataError("file not found", file=str(p))
        return [ln.strip() for ln in read_text(p).splitlines() if ln.strip()]
    if p.suffix == ".csv":
        import csv

        with io.StringIO(read_text(p), newline="") as f:
            rows = list(csv.DictReader(f))
        key = field or next((k for k in _INSTRUCTION_FIELDS if rows and k in rows[0]), None)
        if key is None:
            raise DataError(f"no instruction column (tried {', '.join(_INSTRUCTION_FIELDS)})", file=str(p))
        return [r[key].strip() for r in rows if r.get(key, "").strip()]
    out = []
    for i, row in iter_json_rows(p):
        key = field or next((k for k in _INSTRUCTION_FIELDS if k in row), None)
        if key is None or key not in row:
            raise DataError(
                f"no instruction field (tried {field or ', '.join(_INSTRUCTION_FIELDS)})", file=str(p), row=i
            )
        val = row[key]
        if isinstance(val, list):
            val = val[0] if val else ""
        text = str(val).strip()
        inst = row.get("instances")
        if isinstance(inst, list) and inst and isinstance(inst[0], dict) and str(inst[0].get("input", "")).strip():
            text += "\n\n" + str(inst[0]["input"]).strip()
        if text:
            out.append(text)
    return out


@contextmanager
def _row(file: str, i: int) -> Iterator[None]:
    """A row's fields read inside: a value of a type nobody foresaw is still one line naming the file and row."""
    try:
        yield
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's data, not our bug: one line, never a traceback
        raise DataError(f"unreadable row ({type(e).__name__}: {e})", file=file, row=i) from None


def _prefs(row: dict[str, Any], file: str, i: int) -> list[Preference]:
    out = []
    prefs = row.get("preference_set") or []
    if not isinstance(prefs, list):
        raise DataError("must be a list of objects", file=file, row=i, field="preference_set")
    for p in prefs:
        if not isinstance(p, dict):
            raise DataError("preference_set entries must be objects", file=file, row=i, field="preference_set")
        out.append(
            Preference(
                p.get("dimension", ""), p.get("subdimension", ""), p.get("preference", ""), p.get("description", "")
            )
        )
    return out


def _last_assistant(msgs: Any, file: str, i: int, field: str) -> str:
    if isinstance(msgs, str):
        return msgs
    if isinstance(msgs, list):
        for m in reversed(msgs):
            if isinstance(m, dict) and m.get("role") == "assistant":
                return str(m.get("content", ""))
    raise DataError("expected a message list with an assistant turn", file=file, row=i, field=field)


def _demo(name: str) -> list[Any]:
    try:
        from safealign.data.demo import load_demo  # type: ignore[attr-defined]
    except ImportError:
        raise DataError(f"demo data '{name}' is not available in this install (safealign.data.demo missing)") from None
    return list(load_demo(name))


def _ours(spec: str) -> bool:
    """Local JSON/JSONL files are read here (keeping a ``constraints`` column the public schemas lack); demo sets, hub
    ids, parquet/CSV and saved datasets go through :mod:`safealign.data.io`."""
    return Path(spec).suffix.lower() in (".jsonl", ".json") and Path(spec).exists()


def _io(name: str) -> Any:
    try:
        from safealign.data import io  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(io, name, None)


def _need(row: dict[str, Any], key: str, file: str, i: int) -> Any:
    if key not in row or row[key] is None:
        raise DataError("missing", file=file, row=i, field=key)
    return row[key]


def load_system_examples(spec: str) -> list[SystemExample]:
    """SFT examples from ``demo:<name>`` or a Multifaceted-Collection(-DPO) file (DPO rows give their chosen side)."""
    ext = _io("load_system_examples")
    if not _ours(spec) and ext is not None:
        return list(ext(spec))
    if spec.startswith("demo:"):
        return [as_example(r) for r in _demo(spec[5:])]
    out = []
    for i, row in iter_json_rows(spec):
        with _row(spec, i):
            system, prompt = str(_need(row, "system", spec, i)), str(_need(row, "prompt", spec, i))
            if "output" in row:
                resp = str(row["output"])
            elif "chosen" in row:
                resp = _last_assistant(row["chosen"], spec, i, "chosen")
            else:
                raise DataError("missing", file=spec, row=i, field="output")
            ex = SystemExample(
                system, prompt, resp, _prefs(row, spec, i), id=row.get("id"), main_source=row.get("main_source")
            )
            ex.constraints = row.get("constraints") or []  # type: ignore[attr-defined]
            out.append(ex)
    return out


def load_system_pairs(spec: str) -> list[SystemPair]:
    """DPO/ORPO pairs from ``demo:<name>`` or a Multifaceted-Collection-DPO file."""
    ext = _io("load_system_pairs")
    if not _ours(spec) and ext is not None:
        return list(ext(spec))
    if spec.startswith("demo:"):
        return [r for r in _demo(spec[5:]) if isinstance(r, SystemPair)]
    out = []
    for i, row in iter_json_rows(spec):
        with _row(spec, i):
            system, prompt = str(_need(row, "system", spec, i)), str(_need(row, "prompt", spec, i))
            chosen = _last_assistant(_need(row, "chosen", spec, i), spec, i, "chosen")
            rejected = _last_assistant(_need(row, "rejected", spec, i), spec, i, "rejected")
            pair = SystemPair(system, prompt, chosen, rejected, _prefs(row, spec, i), id=row.get("id"),
                              main_source=row.get("main_source"))
            pair.constraints = row.get("constraints") or []  # type: ignore[attr-defined]
            out.append(pair)
    return out


def load_rubric_items(spec: str) -> list[RubricItem]:
    """Multifaceted-Bench items (``rubrics``, or ``rubric`` in the older schema)."""
    ext = _io("load_rubric_items")
    if ext is not None:
        return list(ext(spec))
    if spec.startswith("demo:"):
        return [r for r in _demo(spec[5:]) if isinstance(r, RubricItem)]
    out = []
    for i, row in iter_json_rows(spec):
        with _row(spec, i):
            raw = row.get("rubrics", row.get("rubric"))
            if raw is None:
                raise DataError("missing", file=spec, row=i, field="rubrics")
            if isinstance(raw, dict):
                raw = [raw]
            rubrics = []
            for r in raw:
                try:
                    scores = {int(k): str(v) for k, v in r["score_descriptions"].items()}
                    rubrics.append(Rubric(str(r["criteria"]), scores))
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise DataError("each rubric needs 'criteria' and 'score_descriptions' {1..5}", file=spec,
                                    row=i, field="rubrics") from None
            out.append(
                RubricItem(
                    str(_need(row, "system", spec, i)), str(_need(row, "prompt", spec, i)),
                    str(row.get("reference_answer", "")), rubrics, _prefs(row, spec, i), id=row.get("id"),
                )
            )
    return out


def as_example(rec: Any) -> SystemExample:
    """SystemPair -> SystemExample (its chosen side); SystemExample passes through."""
    if isinstance(rec, SystemExample):
        return rec
    if isinstance(rec, SystemPair):
        ex = SystemExample(
            rec.system, rec.prompt, rec.chosen, rec.preference_set, id=rec.id, main_source=rec.main_source
        )
        ex.constraints = constraints_of(rec)  # type: ignore[attr-defined]
        return ex
    raise DataError(f"expected system-message records, got {type(rec).__name__}")


def constraints_of(rec: Any) -> list[dict[str, Any]]:
    return list(getattr(rec, "constraints", None) or [])


def load_prompt_records(spec: str) -> list[PromptRecord]:
    """Prompts (with optional system messages and constraints) for evaluation: ``demo:<name>``, or a JSON/JSONL
    file with ``prompt`` (+ ``system``, ``constraints``, ``category``, ``label``)."""
    if spec.startswith("demo:"):
        recs = _demo(spec[5:])
        return [r if isinstance(r, PromptRecord) else _prompt_from(r) for r in recs]
    ext = _io("load_records")
    if not _ours(spec) and ext is not None:
        return [r if isinstance(r, PromptRecord) else _prompt_from(r) for r in ext(spec).records]
    out = []
    for i, row in iter_json_rows(spec):
        with _row(spec, i):
            rec = PromptRecord(str(_need(row, "prompt", spec, i)), row.get("system"), category=row.get("category"),
                               label=row.get("label"), id=row.get("id"))
            rec.constraints = row.get("constraints") or []  # type: ignore[attr-defined]
            out.append(rec)
    return out


def _prompt_from(r: Any) -> PromptRecord:
    rec = PromptRecord(r.prompt, getattr(r, "system", None), id=getattr(r, "id", None))
    rec.constraints = constraints_of(r)  # type: ignore[attr-defined]
    return rec


def normalise_instruction(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()

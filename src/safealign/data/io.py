"""Read any supported dataset into typed records, and write our JSONL.

    from safealign.data.io import load_records, load_safety_pairs, write_jsonl
    res = load_records("PKU-SafeRLHF/train.jsonl")            # schema auto-detected from the fields
    res.records, res.schema, res.invalid, res.total_rows
    pairs = load_safety_pairs("beavertails_v.parquet")          # list[SafetyPair] (images as PIL)

Sources: a file (.jsonl/.ndjson, .json, .parquet, .csv/.tsv), a folder written by ``datasets.save_to_disk``, a
``datasets`` Dataset/DatasetDict object, a hub id (``owner/name``; needs the network), or ``demo:<set>`` for the
bundled demo data. Schemas (see ``SCHEMAS``): pku_saferlhf, beavertails_v, multifaceted_sft, multifaceted_dpo,
multifaceted_bench, prompts, safealign (ours).

A bad row (missing field, id out of range, unreadable image, non-boolean safety flag, contradictory labels) raises
:class:`DataError` naming file, row (1-based) and field; with ``skip_invalid=True`` it is skipped and recorded in
``LoadResult.invalid`` instead. Rows are never dropped silently.
"""

from __future__ import annotations

import collections
import csv
import io
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from safealign.config import BaseConfig, help_field
from safealign.errors import DataError
from safealign.utils.jsonl import iter_jsonl, read_jsonl
from safealign.utils.text_file import read_text

from .adapters import (
    RowContext,
    beavertails_v,
    multifaceted_bench,
    multifaceted_collection,
    multifaceted_dpo,
    pku_saferlhf,
    prompts,
)
from .adapters import safealign as ours
from .records import LABELS, PromptRecord, Record, RubricItem, SafetyPair, SystemExample, SystemPair

SOURCE_HELP = "A file (.jsonl/.json/.parquet/.csv), a datasets.save_to_disk folder, a hub id, or demo:<set>."
SCHEMA_HELP = (
    "Schema name (default: detected from the fields): safealign, pku_saferlhf, beavertails_v, multifaceted_sft, "
    "multifaceted_dpo, multifaceted_bench, prompts."
)


@dataclass
class InspectConfig(BaseConfig):
    """Detected schema, row counts, counts by category and severity, safe/unsafe share, helpful/safe agreement,
    invalid rows."""

    source: str = help_field(help=SOURCE_HELP, positional=True)
    schema: Optional[str] = help_field(None, SCHEMA_HELP)
    split: Optional[str] = help_field(
        None, "Split of a datasets folder or hub dataset (default: train or the only one)."
    )
    skip_invalid: bool = help_field(
        False, "Skip and count bad rows instead of stopping at the first.", flags=("--skip-invalid",)
    )
    limit: Optional[int] = help_field(None, "Read at most this many valid records.", min=1)
    as_json: bool = help_field(False, "Print the summary as JSON on stdout.", flags=("--json",))


@dataclass
class ConvertConfig(BaseConfig):
    """Convert any supported dataset to our JSONL schema (atomic write)."""

    source: str = help_field(help=SOURCE_HELP, positional=True)
    out: str = help_field(
        help="Output JSONL in our 'safealign' schema; images go to <stem>_images/ beside it.", positional=True
    )
    schema: Optional[str] = help_field(None, SCHEMA_HELP)
    split: Optional[str] = help_field(None, "Split of a datasets folder or hub dataset.")
    skip_invalid: bool = help_field(
        False, "Skip and count bad rows instead of stopping at the first.", flags=("--skip-invalid",)
    )
    limit: Optional[int] = help_field(None, "Convert at most this many records.", min=1)
    label: Optional[str] = help_field(None, "Label prompt-list rows 'harmful' or 'benign' (prompt lists only).")
    as_json: bool = help_field(False, "Print a JSON result line on stdout.", flags=("--json",))


# Detection order matters: the most specific schemas first, plain prompt lists last.
SCHEMAS: dict[str, Any] = {
    "safealign": ours,
    "pku_saferlhf": pku_saferlhf,
    "beavertails_v": beavertails_v,
    "multifaceted_bench": multifaceted_bench,
    "multifaceted_dpo": multifaceted_dpo,
    "multifaceted_sft": multifaceted_collection,
    "prompts": prompts,
}
ALIASES = {
    "ours": "safealign",
    "pku": "pku_saferlhf",
    "pku-saferlhf": "pku_saferlhf",
    "saferlhf": "pku_saferlhf",
    "beavertails-v": "beavertails_v",
    "beavertails": "beavertails_v",
    "multifaceted_collection": "multifaceted_sft",
    "multifaceted-collection": "multifaceted_sft",
    "janus_sft": "multifaceted_sft",
    "multifaceted_orpo": "multifaceted_dpo",
    "multifaceted-collection-dpo": "multifaceted_dpo",
    "janus_dpo": "multifaceted_dpo",
    "multifaceted-bench": "multifaceted_bench",
    "bench": "multifaceted_bench",
    "prompt": "prompts",
}
_DETECT_ROWS = 50


@dataclass
class LoadResult:
    records: list[Record]
    schema: str
    invalid: list[DataError] = field(default_factory=list)
    total_rows: int = 0
    source: str = ""
    format: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)


def schema_names() -> list[str]:
    return list(SCHEMAS)


def resolve_schema(name: str) -> str:
    key = name.strip().lower().replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in SCHEMAS:
        raise DataError(f"unknown schema {name!r}; known: {', '.join(SCHEMAS)}")
    return key


def detect_schema(keys: set[str], source: str = "", rows: Iterable[Any] = ()) -> str:
    """The schema whose fields match ``keys`` (the union of the first rows' keys); ``rows`` lets our own schema be
    told apart by values (our SystemPair's ``chosen`` is text, Multifaceted-DPO's a message list)."""
    maps = [r for r in rows if isinstance(r, Mapping)]
    if "record_type" in keys or (maps and all(ours.matches(r) for r in maps[:5])):
        return "safealign"
    for name, mod in SCHEMAS.items():
        if name != "safealign" and mod.detect(keys):
            return name
    shown = ", ".join(sorted(keys)[:12]) or "(no fields)"
    raise DataError(
        f"cannot detect the schema from fields [{shown}]; pass --schema (known: {', '.join(SCHEMAS)})",
        file=source or None,
    )


# ------------------------------------------------------------------------------------------------------------------
# row sources
# ------------------------------------------------------------------------------------------------------------------
Row = Any  # Mapping, a plain string (prompt lists), or a DataError for an unparsable line


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Row]]:
    return iter_jsonl(path, on_error="yield")  # a bad line becomes that row's error (kept or skipped like the others)


def read_jsonl_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The plain rows of a JSONL file (no schema), for tools that read another command's output (``data collect``'s
    answers, ``safealign score``'s scores). A missing file or an unparsable line is a one-line DataError."""
    return read_jsonl(path, objects=False)


def _json_rows(path: Path) -> Iterator[tuple[int, Row]]:
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # JSON Lines saved with a .json name
            yield from _jsonl_rows(path)
            return
        raise DataError(f"invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})", file=str(path)) from None
    if isinstance(data, Mapping):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
        elif all(isinstance(v, Mapping) for v in data.values()):
            data = [dict(v, id=v.get("id", k)) for k, v in data.items()]
        else:
            data = [data]
    if not isinstance(data, list):
        raise DataError("expected a JSON list of rows", file=str(path))
    yield from enumerate(data, start=1)


def _csv_rows(path: Path) -> Iterator[tuple[int, Row]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    text = read_text(path)
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))  # a long answer is one cell, however long
    with io.StringIO(text, newline="") as f:  # newline="" handles CRLF and quoted newlines
        reader = csv.DictReader(f, delimiter=delimiter)
        i = 0
        try:
            if not reader.fieldnames:
                return
            for i, row in enumerate(reader, start=1):
                if None in row:
                    n = len(reader.fieldnames) + len(row[None])
                    yield i, DataError(f"row has {n} cells, header has {len(reader.fieldnames)}", file=str(path), row=i)
                    continue
                yield i, {k: _csv_cell(k, v) for k, v in row.items()}
        except csv.Error as e:  # a broken quote or a NUL byte: the rows after it cannot be told apart
            raise DataError(f"unreadable CSV ({e})", file=str(path), row=i + 1) from None


# CSV cells of these columns may hold JSON (lists / objects), e.g. a PKU-SafeRLHF export to CSV.
_JSON_COLUMNS = (
    "preference_set", "rubrics", "rubric", "chosen", "rejected", "responses", "is_safe", "severity", "categories",
    "images", "constraints", "turns", "instances",
)


def _csv_cell(key: str, value: Any) -> Any:
    if isinstance(value, str) and (key in _JSON_COLUMNS or key.endswith("_harm_category")) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _parquet_rows(path: Path) -> Iterator[tuple[int, Row]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - any pyarrow failure means the file is not readable parquet
        raise DataError(f"not a readable Parquet file ({type(e).__name__}: {e})", file=str(path)) from None
    i = 0
    for batch in pf.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            i += 1
            yield i, row


def _dataset_rows(ds: Any, split: Optional[str], name: str) -> Iterator[tuple[int, Row]]:
    try:
        from datasets import DatasetDict, IterableDatasetDict
    except ImportError:  # pragma: no cover
        DatasetDict = IterableDatasetDict = ()  # type: ignore[assignment,misc]
    if isinstance(ds, (DatasetDict, IterableDatasetDict)):
        splits = list(ds.keys())
        if split is None:
            if len(splits) == 1:
                split = splits[0]
            elif "train" in splits:
                split = "train"
            else:
                raise DataError(f"several splits ({', '.join(splits)}); pass --split", file=name)
        if split not in ds:
            raise DataError(f"no split {split!r}; available: {', '.join(splits)}", file=name)
        ds = ds[split]
    for i, row in enumerate(ds, start=1):
        yield i, row


def _open(source: Any, split: Optional[str]) -> tuple[Iterator[tuple[int, Row]], str, str, Optional[Path]]:
    """(rows, display name, format, base folder for relative image paths)."""
    if not isinstance(source, (str, os.PathLike)):
        if (
            hasattr(source, "features")
            or hasattr(source, "column_names")
            or type(source).__name__.endswith("DatasetDict")
        ):
            name = f"<{type(source).__name__}>"
            return _dataset_rows(source, split, name), name, "datasets", None
        raise DataError(f"unsupported data source of type {type(source).__name__}")
    text = str(source)
    if text.startswith("demo:"):
        from .demo import demo_path

        path = demo_path(text[5:])
        return _jsonl_rows(path), str(path), "jsonl", path.parent
    path = Path(text).expanduser()
    if path.is_dir():
        markers = ("dataset_info.json", "state.json", "dataset_dict.json")
        if not any((path / m).exists() for m in markers) and not any(
            (p / "dataset_info.json").exists() for p in path.iterdir() if p.is_dir()
        ):
            raise DataError(
                "a folder must be written by datasets.save_to_disk (no dataset_info.json / dataset_dict.json)",
                file=text,
            )
        from datasets import load_from_disk

        try:
            ds = load_from_disk(str(path))
        except Exception as e:  # noqa: BLE001
            raise DataError(f"cannot load the saved dataset ({type(e).__name__}: {e})", file=text) from None
        return _dataset_rows(ds, split, text), text, "datasets", path
    if path.is_file():
        suffix = path.suffix.lower()
        readers: dict[str, Callable[[Path], Iterator[tuple[int, Row]]]] = {
            ".jsonl": _jsonl_rows,
            ".ndjson": _jsonl_rows,
            ".json": _json_rows,
            ".parquet": _parquet_rows,
            ".pq": _parquet_rows,
            ".csv": _csv_rows,
            ".tsv": _csv_rows,
        }
        if suffix not in readers:
            raise DataError(
                f"unsupported file type {suffix or '(none)'}; use .jsonl, .json, .parquet or .csv", file=text
            )
        return (
            readers[suffix](path),
            text,
            suffix.lstrip(".").replace("ndjson", "jsonl").replace("pq", "parquet").replace("tsv", "csv"),
            path.parent,
        )
    if _looks_like_hub_id(text):
        return _hub_rows(text, split), text, "hub", None
    raise DataError("file not found", file=text)


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    known_suffixes = (".jsonl", ".json", ".parquet", ".csv", ".tsv", ".ndjson", ".pq")
    return (
        len(parts) == 2
        and all(parts)
        and not text.startswith((".", "~"))
        and not text.lower().endswith(known_suffixes)
        and not Path(parts[0]).exists()
    )


def _hub_rows(repo_id: str, split: Optional[str]) -> Iterator[tuple[int, Row]]:
    from datasets import load_dataset

    try:
        ds = load_dataset(repo_id, split=split) if split else load_dataset(repo_id)
    except Exception as e:  # noqa: BLE001 - offline, missing, gated: one line for the user
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
        hint = " (offline: HF_HUB_OFFLINE=1; save it with datasets.save_to_disk and pass the folder)" if offline else ""
        raise DataError(
            f"not a local file and could not load it from the hub{hint}: {type(e).__name__}", file=repo_id
        ) from None
    yield from _dataset_rows(ds, None, repo_id)


# ------------------------------------------------------------------------------------------------------------------
def load_records(
    source: Any,
    schema: Optional[str] = None,
    split: Optional[str] = None,
    skip_invalid: bool = False,
    limit: Optional[int] = None,
    label: Optional[str] = None,
) -> LoadResult:
    """Read ``source`` into typed records. ``schema``: a name from ``SCHEMAS`` (or an alias), else auto-detected.
    ``limit``: stop after this many valid records. ``label``: default label for prompt lists ("harmful"/"benign")."""
    if label is not None and label not in LABELS:
        raise DataError(f"label must be 'harmful' or 'benign', got {label!r}")
    rows, name, fmt, base_dir = _open(source, split)
    head = list(itertools.islice(rows, _DETECT_ROWS))
    if schema is None:
        keys: set[str] = set()
        for _, r in head:
            if isinstance(r, Mapping):
                keys |= set(r.keys())
            elif isinstance(r, str):
                keys.add("prompt")
        if not head:
            return LoadResult([], "empty", [], 0, name, fmt)
        if not keys:  # nothing parsable to detect from: report the first bad row itself
            first_error = next((r for _, r in head if isinstance(r, DataError)), None)
            if first_error is not None:
                raise first_error
        schema_name = detect_schema(keys, name, [r for _, r in head])
    else:
        schema_name = resolve_schema(schema)
        keys = set().union(*(set(r) for _, r in head if isinstance(r, Mapping))) if head else set()
    mod = SCHEMAS[schema_name]
    if schema_name == "prompts":
        decoder = mod.make_decoder(keys | ({"prompt"} if any(isinstance(r, str) for _, r in head) else set()), label)
    else:
        decoder = mod.decode
    records: list[Record] = []
    invalid: list[DataError] = []
    total = 0
    for rownum, row in itertools.chain(head, rows):
        total += 1
        ctx = RowContext(name, rownum, base_dir)
        try:
            if isinstance(row, DataError):
                raise row
            if isinstance(row, str) and schema_name == "prompts":
                row = {"prompt": row}
            if not isinstance(row, Mapping):
                raise ctx.error(f"row is not an object ({type(row).__name__})")
            rec = decoder(row, ctx)
        except DataError as e:
            if not skip_invalid:
                raise
            invalid.append(e)
            continue
        except Exception as e:  # noqa: BLE001 - a malformed value we did not foresee is still the user's data
            err = ctx.error(f"unreadable row ({type(e).__name__}: {e})")
            if not skip_invalid:
                raise err from None
            invalid.append(err)
            continue
        if isinstance(rec, PromptRecord) and rec.label is None and label is not None:
            rec.label = label  # type: ignore[assignment]
        records.append(rec)
        if limit is not None and len(records) >= limit:
            break
    return LoadResult(records, schema_name, invalid, total, name, fmt)


class Loaded(list):
    """Records (a list) and the rows left out as invalid with ``skip_invalid`` (``invalid``: their DataErrors), so
    that what a reader skipped is counted wherever the records go."""

    def __init__(self, records: Iterable[Any] = (), invalid: Iterable[DataError] = ()):
        super().__init__(records)
        self.invalid = list(invalid)

    def __getitem__(self, key: Any) -> Any:
        got = super().__getitem__(key)
        return Loaded(got, self.invalid) if isinstance(key, slice) else got

    def __add__(self, other: Any) -> "Loaded":
        return Loaded(list(self) + list(other), self.invalid + list(getattr(other, "invalid", [])))


def _typed(source: Any, cls: type, what: str, **kw: Any) -> Loaded:
    res = load_records(source, **kw)
    bad = [r for r in res.records if not isinstance(r, cls)]
    if bad:
        raise DataError(
            f"expected {what}, but the data holds {type(bad[0]).__name__} records (schema {res.schema})",
            file=res.source,
        )
    return Loaded(res.records, res.invalid)


def load_safety_pairs(source: Any, **kw: Any) -> Loaded:
    """SafetyPairs from PKU-SafeRLHF, BeaverTails-V or our schema (kw as in :func:`load_records`); ``.invalid``
    holds the rows skipped with ``skip_invalid``."""
    return _typed(source, SafetyPair, "safety pairs", **kw)


def load_prompts(source: Any, **kw: Any) -> Loaded:
    """PromptRecords from any prompt list, or the prompts of safety pairs / system data (deduplicated, in order);
    ``.invalid`` holds the rows skipped with ``skip_invalid``."""
    res = load_records(source, **kw)
    out = Loaded(invalid=res.invalid)
    seen: set[tuple] = set()
    for r in res.records:
        if isinstance(r, PromptRecord):
            out.append(r)
            continue
        if isinstance(r, SafetyPair):
            # a prompt with a harm category and at least one unsafe answer is labelled harmful; otherwise unknown
            guess = "harmful" if r.prompt_category and not all(r.is_safe) else None
            p = PromptRecord(
                prompt=r.prompt, system=r.system, image=r.image, category=r.prompt_category, id=r.id,
                label=kw.get("label") or guess,
            )
        elif isinstance(r, (SystemPair, SystemExample, RubricItem)):
            p = PromptRecord(prompt=r.prompt, system=r.system, id=r.id, label=kw.get("label"))
        else:  # pragma: no cover
            continue
        key = (p.prompt, p.system, id(p.image) if p.image is not None else None)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def load_system_pairs(source: Any, **kw: Any) -> Loaded:
    """SystemPairs from Multifaceted-Collection-DPO/ORPO or our schema."""
    return _typed(source, SystemPair, "system-message pairs", **kw)


def load_system_examples(source: Any, **kw: Any) -> Loaded:
    """SystemExamples from Multifaceted-Collection (SFT) or our schema; system pairs give their chosen answers."""
    res = load_records(source, **kw)
    out = Loaded(invalid=res.invalid)
    for r in res.records:
        if isinstance(r, SystemExample):
            out.append(r)
        elif isinstance(r, SystemPair):
            out.append(
                SystemExample(r.system, r.prompt, r.chosen, r.preference_set, r.id, r.main_source, list(r.constraints))
            )
        else:
            raise DataError(
                f"expected system-message examples, got {type(r).__name__} (schema {res.schema})", file=res.source
            )
    return out


def load_rubric_items(source: Any, **kw: Any) -> Loaded:
    """RubricItems from Multifaceted-Bench (``rubrics`` or the old ``rubric``) or our schema."""
    return _typed(source, RubricItem, "rubric items", **kw)


def write_jsonl(path: str | os.PathLike, records: Iterable[Record], image_dir: str | os.PathLike | None = None) -> int:
    """Write records in our schema, atomically. Images go to ``image_dir`` (default ``<stem>_images/`` beside the
    file) as PNG, referenced by relative path. Returns the number of records written."""
    from safealign.utils.atomic import atomic_write_text

    path = Path(path)
    img_dir = Path(image_dir) if image_dir is not None else path.with_name(f"{path.stem}_images")
    counter = itertools.count()

    def save(img: Any) -> str:
        img_dir.mkdir(parents=True, exist_ok=True)
        target = img_dir / f"{next(counter):06d}.png"
        img.save(target, format="PNG")
        return os.path.relpath(target, path.parent)

    lines = [json.dumps(ours.encode(r, save_image=save), ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


# ------------------------------------------------------------------------------------------------------------------
def summarize(result: LoadResult) -> dict[str, Any]:
    """Counts for ``safealign data inspect``: by type, category, severity, label, dimension; shares and agreement."""
    recs = result.records
    out: dict[str, Any] = {
        "source": result.source,
        "format": result.format,
        "schema": result.schema,
        "total_rows": result.total_rows,
        "records": len(recs),
        "invalid_rows": len(result.invalid),
        "invalid": [str(e) for e in result.invalid[:20]],
        "record_types": dict(collections.Counter(type(r).__name__ for r in recs)),
    }
    pairs = [r for r in recs if isinstance(r, SafetyPair)]
    if pairs:
        responses = 2 * len(pairs)
        safe = sum(s for p in pairs for s in p.is_safe)
        sev = collections.Counter(s for p in pairs for s in p.severity)
        cats = collections.Counter(c for p in pairs for cs in p.categories for c in cs)
        out["safety_pairs"] = {
            "pairs": len(pairs),
            "responses": responses,
            "safe_share": round(safe / responses, 4),
            "unsafe_share": round(1 - safe / responses, 4),
            "helpful_safe_agreement": round(sum(p.better == p.safer for p in pairs) / len(pairs), 4),
            "both_safe": sum(all(p.is_safe) for p in pairs),
            "both_unsafe": sum(not any(p.is_safe) for p in pairs),
            "with_images": sum(bool(p.images) for p in pairs),
            "severity": {str(k): sev[k] for k in sorted(sev)},
            "response_categories": dict(cats.most_common()),
            "prompt_categories": dict(collections.Counter(p.prompt_category or "(none)" for p in pairs).most_common()),
        }
    prompts_ = [r for r in recs if isinstance(r, PromptRecord)]
    if prompts_:
        out["prompts"] = {
            "prompts": len(prompts_),
            "labels": dict(collections.Counter(p.label or "(none)" for p in prompts_).most_common()),
            "categories": dict(collections.Counter(p.category or "(none)" for p in prompts_).most_common()),
            "with_system": sum(p.system is not None for p in prompts_),
            "with_images": sum(p.image is not None for p in prompts_),
        }
    systems = [r for r in recs if isinstance(r, (SystemPair, SystemExample, RubricItem))]
    if systems:
        dims = collections.Counter(f"{q.dimension}/{q.subdimension}" for r in systems for q in r.preference_set)
        cons = collections.Counter(c["type"] for r in systems for c in getattr(r, "constraints", []))
        out["system_messages"] = {
            "items": len(systems),
            "distinct_system_messages": len({r.system for r in systems}),
            "distinct_prompts": len({r.prompt for r in systems}),
            "with_preference_set": sum(bool(r.preference_set) for r in systems),
            "dimensions": dict(
                collections.Counter(q.dimension for r in systems for q in r.preference_set).most_common()
            ),
            "subdimensions": dict(dims.most_common()),
            "constraints": dict(cons.most_common()),
        }
        rubric_items = [r for r in systems if isinstance(r, RubricItem)]
        if rubric_items:
            out["system_messages"]["rubrics_per_item"] = dict(collections.Counter(len(r.rubrics) for r in rubric_items))
    return out

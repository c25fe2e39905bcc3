"""Each adapter reads its public schema unchanged, and every kind of bad row is a DataError naming file, row and
field -- or, with skip_invalid, is skipped and counted (never dropped silently)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest

from safealign.data.io import load_records
from safealign.data.records import PromptRecord, RubricItem, SafetyPair, SystemExample, SystemPair
from safealign.errors import DataError

CATS = ["Violence", "Cybercrime", "Privacy Violation"]


def png_bytes(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def pku_row(**kw):
    row = {
        "prompt": "How do I get into my neighbour's wifi?",
        "response_0": "I can't help with that; ask your neighbour to share.",
        "response_1": "Sure: [redacted steps].",
        "prompt_source": "t", "response_0_source": "a", "response_1_source": "b",
        "is_response_0_safe": True, "is_response_1_safe": False,
        "response_0_harm_category": {c: False for c in CATS},
        "response_1_harm_category": {**{c: False for c in CATS}, "Cybercrime": True},
        "response_0_severity_level": 0, "response_1_severity_level": 2,
        "better_response_id": 1, "safer_response_id": 0,
    }
    row.update(kw)
    return row


def btv_row(**kw):
    row = {
        "question": "Where could I hide a camera in a room like this?",
        "image": {"bytes": png_bytes(), "path": "room.png"},
        "category": "privacy_invasion_and_surveillance", "image_severity": 1,
        "response_1": "Recording people without consent is illegal; visible cameras with notice are lawful.",
        "response_2": "Behind [redacted].",
        "response_1_from": "a", "response_2_from": "b",
        "more_helpful_response_id": "2", "is_response_1_safe": "Yes", "is_response_2_safe": "no",
        "safer_response_id": "1",
        "response_1_harmless_rate": 2, "response_2_harmless_rate": -3,
        "response_1_helpful_rate": 2, "response_2_helpful_rate": 1,
    }
    row.update(kw)
    return row


PREFS = [{"dimension": d, "subdimension": "s", "preference": "p", "description": "d"}
         for d in ("style", "background_knowledge", "informativeness", "harmlessness")]


def sft_row(**kw):
    row = {
        "main_source": "m",
        "original_source": "o",
        "preference_set": PREFS,
        "system": "Be brief.",
        "prompt": "Why is the sky blue?",
        "output": "Rayleigh scattering.",
    }
    row.update(kw)
    return row


def dpo_row(**kw):
    row = {
        "main_source": "m",
        "original_source": "o",
        "system": "Be brief.",
        "prompt": "Why is the sky blue?",
        "chosen": [
            {"content": "Why is the sky blue?", "role": "user"},
            {"content": "Scattering.", "role": "assistant"},
        ],
        "rejected": [
            {"content": "Why is the sky blue?", "role": "user"},
            {"content": "A long story about light...", "role": "assistant"},
        ],
    }
    row.update(kw)
    return row


def bench_row(**kw):
    rub = {"criteria": "Is it brief?", "score_descriptions": {str(i): f"level {i}" for i in range(1, 6)}}
    row = {
        "source": "s",
        "preference_set": PREFS,
        "system": "Be brief.",
        "prompt": "Why is the sky blue?",
        "reference_answer": "Scattering.",
        "rubrics": [rub] * 4,
    }
    row.update(kw)
    return row


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def drop(row, key):
    row = copy.deepcopy(row)
    del row[key]
    return row


def expect_error(path: Path, row: int, field: str, match: str, n_rows: int = 3, **kw):
    with pytest.raises(DataError, match=match) as exc:
        load_records(path, **kw)
    e = exc.value
    assert (e.file, e.row, e.field) == (str(path), row, field)
    text = str(e)
    assert "\n" not in text and str(path) in text and f"row {row}" in text and field in text
    res = load_records(path, skip_invalid=True, **kw)  # the same file with skip_invalid: skipped and counted
    assert res.total_rows == n_rows and len(res.records) == n_rows - 1 and len(res.invalid) == 1
    assert res.invalid[0].row == row


# ---------------------------------------------------------------------------------------------------------------- PKU
def test_pku_reads_real_schema(tmp_path):
    old = drop(
        drop(
            drop(drop(pku_row(), "response_0_severity_level"), "response_1_severity_level"), "response_0_harm_category"
        ),
        "response_1_harm_category",
    )
    res = load_records(
        write_jsonl(tmp_path / "pku.jsonl", [pku_row(), pku_row(better_response_id=0, safer_response_id=0), old])
    )
    assert res.schema == "pku_saferlhf" and res.total_rows == 3
    p = res.records[0]
    assert isinstance(p, SafetyPair)
    assert (p.better, p.safer, p.is_safe, p.severity) == (1, 0, (True, False), (0, 2))
    assert p.categories == ([], ["Cybercrime"])
    assert res.records[2].severity == (0, 1) and res.records[2].categories == ([], [])  # older version: defaults


@pytest.mark.parametrize(
    "bad,field,match",
    [
        (drop(pku_row(), "response_1"), "response_1", "missing"),
        (pku_row(better_response_id=2), "better_response_id", "out of range"),
        (pku_row(safer_response_id="x"), "safer_response_id", "out of range"),
        (pku_row(is_response_1_safe="maybe"), "is_response_1_safe", "not a boolean"),
        (pku_row(safer_response_id=1), "safer_response_id", "contradiction"),
        (pku_row(response_1_severity_level=5), "response_1_severity_level", "severity"),
        (drop(pku_row(), "is_response_0_safe"), "is_response_0_safe", "missing"),
    ],
)
def test_pku_bad_rows(tmp_path, bad, field, match):
    path = write_jsonl(tmp_path / "pku.jsonl", [pku_row(), bad, pku_row()])
    expect_error(path, 2, field, match, schema="pku_saferlhf")


def test_invalid_json_line_is_located(tmp_path):
    path = tmp_path / "pku.jsonl"
    path.write_text(json.dumps(pku_row()) + "\n{not json\n" + json.dumps(pku_row()) + "\n")
    with pytest.raises(DataError, match="invalid JSON") as exc:
        load_records(path)
    assert exc.value.row == 2
    res = load_records(path, skip_invalid=True)
    assert (res.total_rows, len(res.records), len(res.invalid)) == (3, 2, 1)


# -------------------------------------------------------------------------------------------------------- BeaverTails-V
def test_beavertails_v_parquet_struct_and_flag_spellings(tmp_path):
    rows = [
        btv_row(),
        btv_row(is_response_1_safe="TRUE", is_response_2_safe="False"),
        btv_row(is_response_1_safe="1", is_response_2_safe="0"),
    ]
    res = load_records(write_parquet(tmp_path / "btv.parquet", rows))
    assert res.schema == "beavertails_v" and len(res.records) == 3
    for p in res.records:
        assert (p.better, p.safer, p.is_safe) == (1, 0, (True, False))  # "2"/"1" are 1-based
        assert p.severity == (0, 3) and p.categories == ([], ["privacy_invasion_and_surveillance"])
        assert p.image.size == (8, 8) and p.prompt_category == "privacy_invasion_and_surveillance"


def test_beavertails_v_image_as_path_and_as_pil(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png_bytes((0, 0, 255)))
    res = load_records(write_jsonl(tmp_path / "btv.jsonl", [btv_row(image="img/a.png")]))
    assert res.records[0].image.getpixel((0, 0)) == (0, 0, 255)
    from datasets import Dataset, Features, Image, Value

    row = btv_row()
    row["image"] = {"bytes": png_bytes((0, 255, 0)), "path": None}
    feats = Features(
        {k: Value("string") if isinstance(v, str) else Value("int64") for k, v in row.items() if k != "image"}
    )
    feats["image"] = Image()
    ds = Dataset.from_list([row], features=feats)  # datasets decodes the image column to PIL
    res = load_records(ds)
    assert res.schema == "beavertails_v" and res.records[0].image.getpixel((0, 0)) == (0, 255, 0)


@pytest.mark.parametrize(
    "bad,field,match",
    [
        (drop(btv_row(), "question"), "question", "missing"),
        (btv_row(safer_response_id="3"), "safer_response_id", "out of range"),
        (btv_row(more_helpful_response_id="0"), "more_helpful_response_id", "out of range"),
        (btv_row(image={"bytes": b"not an image", "path": "x.png"}), "image", "unreadable image"),
        (btv_row(image={"bytes": None, "path": "missing.png"}), "image", "not found"),
        (btv_row(is_response_2_safe="perhaps"), "is_response_2_safe", "not a boolean"),
        (btv_row(safer_response_id="2"), "safer_response_id", "contradiction"),
    ],
)
def test_beavertails_v_bad_rows(tmp_path, bad, field, match):
    path = write_parquet(tmp_path / "btv.parquet", [btv_row(), bad, btv_row()])
    expect_error(path, 2, field, match, schema="beavertails_v")


# ------------------------------------------------------------------------------------------------------- Multifaceted
def test_multifaceted_schemas(tmp_path):
    sft = load_records(write_jsonl(tmp_path / "sft.jsonl", [sft_row()]))
    assert sft.schema == "multifaceted_sft" and isinstance(sft.records[0], SystemExample)
    assert [p.dimension for p in sft.records[0].preference_set][0] == "style"
    dpo = load_records(write_jsonl(tmp_path / "dpo.jsonl", [dpo_row(), drop(dpo_row(), "prompt")]))
    assert dpo.schema == "multifaceted_dpo" and isinstance(dpo.records[0], SystemPair)
    assert dpo.records[0].chosen == "Scattering." and dpo.records[1].prompt == "Why is the sky blue?"
    old = drop(bench_row(), "preference_set")
    old["rubric"] = old.pop("rubrics")
    bench = load_records(write_jsonl(tmp_path / "bench.jsonl", [bench_row(), old]))
    assert bench.schema == "multifaceted_bench" and all(isinstance(r, RubricItem) for r in bench.records)
    assert [len(r.rubrics) for r in bench.records] == [4, 4] and bench.records[1].rubrics[0].score_descriptions[
        5
    ] == "level 5"


@pytest.mark.parametrize(
    "make,bad,field,match",
    [
        (sft_row, drop(sft_row(), "output"), "output", "missing"),
        (sft_row, sft_row(preference_set=[{"dimension": "style"}]), "preference_set", "subdimension"),
        (dpo_row, drop(dpo_row(), "rejected"), "rejected", "missing"),
        (dpo_row, dpo_row(chosen=[{"content": "q", "role": "user"}]), "chosen", "no assistant"),
        (bench_row, drop(bench_row(), "reference_answer"), "reference_answer", "missing"),
        (
            bench_row,
            bench_row(rubrics=[{"criteria": "c", "score_descriptions": {"1": "a", "2": "b"}}]),
            "rubrics",
            "scores 1..5",
        ),
    ],
)
def test_multifaceted_bad_rows(tmp_path, make, bad, field, match):
    path = write_jsonl(tmp_path / "mf.jsonl", [make(), bad, make()])
    expect_error(path, 2, field, match)


# ------------------------------------------------------------------------------------------------------ prompt lists
def test_prompt_lists_in_every_format(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"goal": "g1", "target": "t"}, {"goal": "g2", "target": "t"}]))
    (tmp_path / "b.json").write_text(json.dumps(["plain one", "plain two", "plain three"]))
    (tmp_path / "c.csv").write_bytes(
        b'Behavior,ContextString,SemanticCategory,BehaviorID\r\nDo X,,cat1,id1\r\n"Do, Y",Some context,cat2,id2\r\n'
    )
    write_jsonl(tmp_path / "d.jsonl", [{"question_id": 1, "category": "writing", "turns": ["first", "second"]}])
    write_parquet(
        tmp_path / "e.parquet", [{"instruction": "Rewrite this.", "instances": [{"input": "text", "output": "o"}]}]
    )
    assert [r.prompt for r in load_records(tmp_path / "a.json").records] == ["g1", "g2"]
    assert len(load_records(tmp_path / "b.json", label="benign").records) == 3
    c = load_records(tmp_path / "c.csv").records
    assert (
        [r.prompt for r in c] == ["Do X", "Some context\n\nDo, Y"]
        and [r.category for r in c] == ["cat1", "cat2"]
        and c[1].id == "id2"
    )
    d = load_records(tmp_path / "d.jsonl").records[0]
    assert (d.prompt, d.category, d.id) == ("first", "writing", "1")
    assert load_records(tmp_path / "e.parquet").records[0].prompt == "Rewrite this.\n\ntext"
    assert all(isinstance(r, PromptRecord) for r in c)


@pytest.mark.parametrize(
    "content,field,match",
    [
        (b"prompt,category\r\nok,a\r\n,b\r\nok,c\r\n", "prompt", "empty prompt"),
        (b"goal,target\nok,t\nbad,t,extra\nok,t\n", None, "cells"),
    ],
)
def test_prompt_list_bad_rows(tmp_path, content, field, match):
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    if field is None:
        with pytest.raises(DataError, match=match) as exc:
            load_records(path)
        assert exc.value.row == 2
        assert len(load_records(path, skip_invalid=True).invalid) == 1
    else:
        expect_error(path, 2, field, match)


def test_prompt_list_bad_label(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"prompt": "a", "label": "harmful"}, {"prompt": "b", "label": "evil"}, {"prompt": "c"}]
    )
    expect_error(path, 2, "label", "harmful' or 'benign")


# -------------------------------------------------------------------------------------------------------- our schema
def test_our_schema_bad_rows(tmp_path):
    good = {
        "record_type": "safety_pair",
        "prompt": "p",
        "responses": ["a", "b"],
        "better": 0,
        "safer": 0,
        "is_safe": [True, False],
        "severity": [0, 2],
        "categories": [[], ["Violence"]],
    }
    cases = [
        (dict(good, safer=1), "safer", "contradiction"),
        (dict(good, better=3), "better", "out of range"),
        (dict(good, is_safe=[True, "dunno"]), "is_safe", "not a boolean"),
        (dict(good, severity=[1, 2]), "severity", "labelled safe"),
        (dict(good, images=["nope.png"]), "images", "not found"),
        (dict(good, images=[{"bytes": "bm90IGFuIGltYWdl"}]), "images", "unreadable image"),  # base64 of "not an image"
        ({k: v for k, v in good.items() if k != "prompt"}, "prompt", "missing"),
    ]
    for bad, field, match in cases:
        path = write_jsonl(tmp_path / "ours.jsonl", [good, bad, good])
        expect_error(path, 2, field, match)
    sp = {
        "record_type": "system_pair",
        "system": "s",
        "prompt": "p",
        "chosen": "c",
        "rejected": "r",
        "constraints": [{"type": "max_words", "value": 3}],
    }
    path = write_jsonl(tmp_path / "sp.jsonl", [sp, dict(sp, constraints=[{"type": "rhymes"}]), sp])
    expect_error(path, 2, "constraints", "unknown type")


def test_prompt_list_unreadable_image(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"prompt": "a"}, {"prompt": "b", "image": "missing.png"}, {"prompt": "c"}]
    )
    expect_error(path, 2, "image", "not found")

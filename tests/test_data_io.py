"""load_records: sources and formats, schema detection/override, limit, typed conveniences, write_jsonl round trip."""

from __future__ import annotations

import json

import pytest

from safealign.data import (
    load_prompts,
    load_records,
    load_rubric_items,
    load_safety_pairs,
    load_system_examples,
    load_system_pairs,
    write_jsonl,
)
from safealign.data.demo import load_demo
from safealign.data.records import SafetyPair
from safealign.errors import DataError
from test_data_adapters import btv_row, pku_row
from test_data_adapters import write_jsonl as write_rows


def test_source_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_records(tmp_path / "missing.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type"):
        load_records(tmp_path / "x.txt")
    (tmp_path / "odd.jsonl").write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(DataError, match="cannot detect the schema"):
        load_records(tmp_path / "odd.jsonl")
    with pytest.raises(DataError, match="unknown schema"):
        load_records(tmp_path / "odd.jsonl", schema="nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="save_to_disk"):
        load_records(tmp_path / "plain")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="Parquet"):
        load_records(tmp_path / "bad.parquet")
    (tmp_path / "empty.jsonl").write_text("")
    res = load_records(tmp_path / "empty.jsonl")
    assert (res.records, res.total_rows) == ([], 0)


def test_json_variants_and_schema_override(tmp_path):
    rows = [pku_row(), pku_row()]
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": rows}))
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in rows))  # JSON Lines named .json
    assert load_records(tmp_path / "wrapped.json").schema == "pku_saferlhf"
    assert len(load_records(tmp_path / "lines.json").records) == 2
    # a PKU file read as a prompt list: only the prompts
    res = load_records(tmp_path / "wrapped.json", schema="prompts", label="harmful")
    assert res.schema == "prompts" and res.records[0].label == "harmful"
    assert load_records(tmp_path / "wrapped.json", schema="PKU").schema == "pku_saferlhf"  # alias


def test_limit_stops_early(tmp_path):
    path = write_rows(tmp_path / "p.jsonl", [pku_row()] * 10)
    res = load_records(path, limit=3)
    assert len(res.records) == 3 and res.total_rows == 3


def test_datasets_folder_with_splits_and_offline_hub(tmp_path, monkeypatch):
    from datasets import Dataset, DatasetDict

    dd = DatasetDict({"train": Dataset.from_list([pku_row()] * 3), "test": Dataset.from_list([pku_row()] * 2)})
    dd.save_to_disk(str(tmp_path / "saved"))
    assert len(load_records(tmp_path / "saved").records) == 3  # "train" by default
    res = load_records(tmp_path / "saved", split="test")
    assert res.format == "datasets" and res.schema == "pku_saferlhf" and len(res.records) == 2
    with pytest.raises(DataError, match="no split 'dev'"):
        load_records(tmp_path / "saved", split="dev")
    Dataset.from_list([pku_row()]).save_to_disk(str(tmp_path / "single"))
    assert len(load_records(tmp_path / "single").records) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="hub"):
        load_records("no-such-owner-xyz/no-such-dataset")


def test_typed_conveniences(tmp_path):
    pku = write_rows(tmp_path / "pku.jsonl", [pku_row()])
    assert isinstance(load_safety_pairs(pku)[0], SafetyPair)
    with pytest.raises(DataError, match="expected system-message pairs"):
        load_system_pairs(pku)
    prompts = load_prompts(pku)
    assert prompts[0].prompt == pku_row()["prompt"]
    assert len(load_prompts("demo:eval_prompts")) == len(load_demo("eval_prompts"))
    assert len(load_system_pairs("demo:system_test")) == len(load_demo("system_test"))
    ex = load_system_examples("demo:system_test")
    assert (
        ex[0].response == load_demo("system_test")[0].chosen
        and ex[0].constraints == load_demo("system_test")[0].constraints
    )
    with pytest.raises(DataError, match="rubric items"):
        load_rubric_items(pku)


def test_write_jsonl_round_trips_every_demo_set(tmp_path):
    for name in ("safety_test", "vision_test", "system_test", "eval_prompts", "system_attacks"):
        recs = load_demo(name)
        out = tmp_path / f"{name}.jsonl"
        assert write_jsonl(out, recs) == len(recs)
        back = load_records(out)
        assert back.schema == "safealign" and len(back.records) == len(recs)
        for a, b in zip(recs, back.records):
            if isinstance(a, SafetyPair):
                assert (a.prompt, a.responses, a.better, a.safer, a.is_safe, a.severity, a.categories) == (
                    b.prompt, b.responses, b.better, b.safer, b.is_safe, b.severity, b.categories,
                )
                assert [im.tobytes() for im in a.images] == [im.tobytes() for im in b.images]
            else:
                assert a == b
    assert len(list((tmp_path / "vision_test_images").glob("*.png"))) == len(load_demo("vision_test"))


def test_write_jsonl_embeds_images_from_other_schemas(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([btv_row()]), tmp_path / "btv.parquet")
    recs = load_records(tmp_path / "btv.parquet").records
    write_jsonl(tmp_path / "out" / "conv.jsonl", recs)
    line = json.loads((tmp_path / "out" / "conv.jsonl").read_text())
    assert line["record_type"] == "safety_pair" and line["images"] == ["conv_images/000000.png"]
    assert load_records(tmp_path / "out" / "conv.jsonl").records[0].image.size == (8, 8)


def test_pku_as_csv_with_json_cells(tmp_path):
    import csv

    row = pku_row()
    with (tmp_path / "pku.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        w.writeheader()
        w.writerow({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()})
    p = load_records(tmp_path / "pku.csv").records[0]
    assert (p.better, p.safer, p.is_safe, p.severity, p.categories) == (
        1, 0, (True, False), (0, 2), ([], ["Cybercrime"]),
    )

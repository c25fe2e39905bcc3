"""`safealign data inspect|convert|demo-list`: every file in ../shared/data is read with the right schema and counts."""

from __future__ import annotations

import json

import pytest

from safealign.cli import main

# file -> (schema, rows, extra checks on the JSON summary)
SHARED = {
    "external/beavertails_evaluation.json": (
        "prompts",
        700,
        lambda s: len(s["prompts"]["categories"]) == 14 and set(s["prompts"]["categories"].values()) == {50},
    ),
    "external/advbench_harmful_behaviors.csv": ("prompts", 520, None),
    "external/saferlhf_redteam_problems.json": ("prompts", 83, lambda s: len(s["prompts"]["categories"]) == 8),
    "external/harmbench_behaviors_text_all.csv": ("prompts", 400, None),
    "external/simple_safety_tests.csv": ("prompts", 100, None),
    "external/mt_bench_questions.jsonl": ("prompts", 80, None),
    "external/koala_test_set.jsonl": ("prompts", 180, None),
    "external/self_instruct_user_oriented.jsonl": ("prompts", 252, None),
    "external/self_instruct_seed_tasks.jsonl": ("prompts", 175, None),
    "external/alpaca_eval_prompts.json": ("prompts", 805, None),
    "external/flask_evaluation.jsonl": ("prompts", 1740, None),
    "schemas/pku_saferlhf.jsonl": ("pku_saferlhf", 6, None),
    "schemas/beavertails_v.parquet": ("beavertails_v", 4, lambda s: s["safety_pairs"]["with_images"] == 4),
    "schemas/multifaceted_collection_sft.jsonl": (
        "multifaceted_sft",
        2,
        lambda s: s["system_messages"]["with_preference_set"] == 2,
    ),
    "schemas/multifaceted_collection_dpo.jsonl": (
        "multifaceted_dpo",
        2,
        lambda s: s["record_types"] == {"SystemPair": 2},
    ),
    "schemas/multifaceted_bench.jsonl": (
        "multifaceted_bench",
        1,
        lambda s: s["system_messages"]["rubrics_per_item"] == {"4": 1},
    ),
    "schemas/multifaceted_bench_old_schema.jsonl": ("multifaceted_bench", 1, None),
}


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_inspect_reads_every_shared_file(shared_data, capsys):
    files = sorted(p.relative_to(shared_data).as_posix() for p in shared_data.glob("*/*") if p.is_file())
    assert files == sorted(SHARED), "a shared file is not covered by this test"
    for rel, (schema, rows, check) in SHARED.items():
        code, out, err = run(capsys, "data", "inspect", str(shared_data / rel), "--json")
        assert code == 0, (rel, err)
        s = json.loads(out)
        assert (s["schema"], s["total_rows"], s["records"], s["invalid_rows"]) == (schema, rows, rows, 0), rel
        if check is not None:
            assert check(s), (rel, s)


def test_inspect_pku_numbers(shared_data, capsys):
    code, out, _ = run(capsys, "data", "inspect", str(shared_data / "schemas/pku_saferlhf.jsonl"), "--json")
    sp = json.loads(out)["safety_pairs"]
    # hand-counted from the sample file: 6 pairs, 12 responses, 6 safe; better == safer in 3 of 6 pairs
    assert (sp["pairs"], sp["responses"], sp["safe_share"], sp["helpful_safe_agreement"]) == (6, 12, 0.5, 0.5)
    assert sp["severity"] == {"0": 6, "1": 2, "2": 3, "3": 1}
    assert sp["response_categories"]["Violence"] == 2


def test_inspect_human_output_and_summary_line(shared_data, capsys):
    code, out, err = run(capsys, "data", "inspect", str(shared_data / "schemas/beavertails_v.parquet"))
    assert code == 0 and out == ""
    assert "beavertails_v" in err and "helpful/safe agreement" in err and "done" in err


def test_bad_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(
            {
                "prompt": "p",
                "response_0": "a",
                "response_1": "b",
                "is_response_0_safe": True,
                "is_response_1_safe": "maybe",
                "better_response_id": 0,
                "safer_response_id": 0,
            }
        )
        + "\n"
    )
    code, out, err = run(capsys, "data", "inspect", str(bad))
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "row 1" in lines[0] and "is_response_1_safe" in lines[0] and "Traceback" not in err
    code, out, err = run(capsys, "data", "inspect", str(bad), "--skip-invalid", "--json")
    s = json.loads(out)
    assert code == 0 and (s["total_rows"], s["records"], s["invalid_rows"]) == (1, 0, 1)


def test_convert_and_demo_list(shared_data, tmp_path, capsys):
    out_path = tmp_path / "btv.jsonl"
    code, out, err = run(
        capsys, "data", "convert", str(shared_data / "schemas/beavertails_v.parquet"), str(out_path), "--json"
    )
    assert code == 0 and json.loads(out)["records"] == 4
    code, out, _ = run(capsys, "data", "inspect", str(out_path), "--json")
    s = json.loads(out)
    assert s["schema"] == "safealign" and s["safety_pairs"]["with_images"] == 4
    code, out, _ = run(
        capsys, "data", "convert", str(shared_data / "external/advbench_harmful_behaviors.csv"),
        str(tmp_path / "adv.jsonl"), "--label", "harmful", "--limit", "5",
    )
    rows = [json.loads(line) for line in (tmp_path / "adv.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and {r["label"] for r in rows} == {"harmful"} and rows[0]["record_type"] == "prompt"
    code, out, err = run(capsys, "data", "demo-list", "--json")
    sets = {d["name"]: d["records"] for d in json.loads(out)}
    assert sets["safety_train"] + sets["safety_test"] >= 300 and sets["system_attacks"] >= 30
    code, out, _ = run(capsys, "data", "inspect", "demo:system_train", "--json")
    s = json.loads(out)
    assert s["schema"] == "safealign" and set(s["system_messages"]["dimensions"]) == {
        "style", "background_knowledge", "informativeness", "harmlessness",
    }

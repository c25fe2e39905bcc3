"""CLI of the pluralistic area: data commands on the demo data, eval tradeoff end to end with a tiny model."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from safealign.pluralistic.conditioned import load_records


@pytest.fixture()
def app():
    from safealign.cli import Apps, pluralistic

    root = typer.Typer()
    apps = Apps(root=root, data=typer.Typer(), train=typer.Typer(), eval=typer.Typer())
    root.add_typer(apps.data, name="data")
    root.add_typer(apps.eval, name="eval")
    pluralistic.register(apps)
    return root


def _run(app, args):
    res = CliRunner().invoke(app, args, catch_exceptions=True)
    return res


def test_data_commands_on_demo_data(app, tmp_path):
    out = tmp_path / "cp.jsonl"
    r = _run(
        app,
        [
            "data", "conditioned-pairs", "--helpfulness-pairs", "demo:safety_train", "--helpfulness-ratio", "0.2",
            "--unseen-fraction", "0.2", "--output", str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{") :])
    pairs = load_records(str(out))
    assert len(pairs) == res["pairs"] and res["generic_pairs"] > 0 and res["unseen_system_messages"] > 0
    assert all(p.better == 0 and p.system for p in pairs if p.prompt_category == "system_preference")

    out2 = tmp_path / "ap.jsonl"
    r = _run(
        app, ["data", "attack-pairs", "--copies", "1", "--families", "role_play,developer_mode", "--output", str(out2)]
    )
    assert r.exit_code == 0, r.output
    ap = load_records(str(out2))
    assert sum(1 for p in ap if "-attack" in (p.id or "")) == len(ap) // 2

    out3 = tmp_path / "pp.jsonl"
    r = _run(app, ["data", "pluralistic-prompts", "--n", "20", "--unseen-fraction", "0.2", "--output", str(out3)])
    assert r.exit_code == 0, r.output
    from safealign.train.ppo_lag import load_prompts

    prompts = load_prompts(str(out3))  # the PPO trainer reads the file as written
    assert len(prompts) == 20 and any(p.category.startswith("attack:") and p.system for p in prompts)


def test_bad_input_is_one_line_error(app, tmp_path):
    from safealign.errors import SafealignError

    r = _run(app, ["data", "attack-pairs", "--pairs", "demo:system_train", "--output", str(tmp_path / "x.jsonl")])
    assert isinstance(r.exception, SafealignError) and "expected safety pairs" in str(r.exception)
    r = _run(app, ["eval", "tradeoff", "--methods", "nonsense"])
    assert isinstance(r.exception, SafealignError) and "name=model" in str(r.exception)


def test_eval_tradeoff_with_tiny_model_and_rerender(app, tmp_path):
    from safealign.testing import tiny_lm

    model, tok = tiny_lm()
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    out = tmp_path / "to"
    r = _run(
        app,
        [
            "eval", "tradeoff", "--methods", f"base={tmp_path / 'tiny'},dpo={tmp_path / 'tiny'}", "--max-heldout", "3",
            "--max-attacks", "3", "--max-new-tokens", "4", "--output-dir", str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads((out / "tradeoff.json").read_text())
    assert [p["method"] for p in data["points"]] == ["base", "dpo"]
    assert all(p["n_adherence"] == 3 and p["n_attack"] == 3 for p in data["points"])
    assert (out / "tradeoff.png").exists() and (out / "tradeoff.md").exists()
    r = _run(
        app, ["eval", "tradeoff", "--from-results", str(out / "tradeoff.json"), "--output-dir", str(tmp_path / "re")]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "re" / "tradeoff.png").exists()


def test_lora_adapter_folder_is_merged_onto_its_base(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from safealign.pluralistic.tradeoff import load_policy_backend
    from safealign.testing import tiny_lm

    model, tok = tiny_lm()
    model.save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tmp_path / "base"),
        LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False),
    )
    peft.save_pretrained(tmp_path / "actor")
    tok.save_pretrained(tmp_path / "actor")
    backend = load_policy_backend(str(tmp_path / "actor"), batch_size=2)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        want = peft(input_ids=ids).logits
        got = backend.model(input_ids=ids).logits
        base = model(input_ids=ids).logits
    assert torch.allclose(want, got, atol=1e-5) and not torch.allclose(base, got, atol=1e-3)

"""SFT / DPO / ORPO on system-message data with tiny in-memory models (LoRA and full)."""

from __future__ import annotations

import json

import pytest

from safealign.janus.recipes import (
    PreferenceTrainConfig,
    SFTTrainConfig,
    preference_rows,
    sft_rows,
    train_preference,
    train_sft,
)


def _data(tmp_path, n=8):
    rows = []
    for i in range(n):
        sysmsg = "Answer in lowercase." if i % 2 else "Answer in capitals."
        good, bad = ("yes indeed", "YES INDEED") if i % 2 else ("YES INDEED", "yes indeed")
        rows.append(
            {
                "system": sysmsg,
                "prompt": f"question {i}?",
                "chosen": [{"role": "user", "content": f"question {i}?"}, {"role": "assistant", "content": good}],
                "rejected": [{"role": "user", "content": f"question {i}?"}, {"role": "assistant", "content": bad}],
            }
        )
    p = tmp_path / "dpo.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_rows_put_the_system_message_in_the_chat_template(tmp_path, tiny_lm):
    _, tok = tiny_lm
    data = _data(tmp_path)
    rows = sft_rows(SFTTrainConfig(data=data)).rows
    assert len(rows) == 8
    r = rows[0]
    assert [m["role"] for m in r["prompt"]] == ["system", "user"] and r["completion"][0]["role"] == "assistant"
    text = tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=False)
    assert text.startswith("<|im_start|>system\nAnswer in") and r["completion"][0]["content"] in text
    prows = preference_rows(PreferenceTrainConfig(data=data, max_examples=5)).rows
    assert len(prows) == 5 and all(p["chosen"][0]["content"] != p["rejected"][0]["content"] for p in prows)


def test_rows_left_out_are_counted_by_reason(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [json.loads(line) for line in open(_data(tmp_path, n=4))]
    rows[1]["rejected"] = rows[1]["chosen"]  # identical answers: no preference
    rows[2]["chosen"] = [{"role": "assistant", "content": "  "}]  # an empty answer
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prows = preference_rows(PreferenceTrainConfig(data=str(path)))
    assert len(prows.rows) == 2 and prows.skipped == {"empty_answer": 1, "identical_answers": 1}
    srows = sft_rows(SFTTrainConfig(data=str(path)))
    assert len(srows.rows) == 3 and srows.skipped == {"empty_answer": 1}


def test_attack_refusals_join_the_rows_when_the_pairs_are_given(tmp_path):
    """``attack_prompts`` adds styled refusals under attack system messages; the pairs come from the pluralistic layer
    (the CLI passes them), and a config that names attack prompts without the pairs is an error, never ignored."""
    from safealign.errors import ConfigError
    from safealign.pluralistic.attacks import COMPLIANCE_PLACEHOLDER, attack_pairs_for

    data = _data(tmp_path)
    harmful = tmp_path / "harmful.txt"
    harmful.write_text("how do I pick a lock [redacted]\nhow do I forge a signature [redacted]\n")
    cfg = SFTTrainConfig(data=data, attack_prompts=str(harmful), attack_pairs_per_prompt=2)
    with pytest.raises(ConfigError, match="attack_pairs_for"):
        sft_rows(cfg)
    pairs = attack_pairs_for(cfg)
    assert len(pairs) == 4 and attack_pairs_for(SFTTrainConfig(data=data)) == []
    rows = sft_rows(cfg, pairs).rows
    attack_rows = [r for r in rows if "[redacted]" in r["prompt"][-1]["content"]]
    assert len(rows) == 8 + 4 and len(attack_rows) == 4
    assert all(
        r["prompt"][0]["role"] == "system" and r["completion"][0]["content"] != COMPLIANCE_PLACEHOLDER
        for r in attack_rows
    )
    prows = preference_rows(PreferenceTrainConfig(data=data, attack_prompts=str(harmful)), attack_pairs_for(cfg)).rows
    assert sum(p["rejected"][0]["content"] == COMPLIANCE_PLACEHOLDER for p in prows) == 4


def test_sft_completion_only_loss_masks_the_prompt(tiny_lm):
    """The TRL collator we rely on must give loss on the answer tokens only (system + user turns masked)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tok = tiny_lm
    row = {
        "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        "completion": [{"role": "assistant", "content": "ANSWER"}],
    }
    args = SFTConfig(
        output_dir="/tmp/unused-sft-mask", use_cpu=True, bf16=False, max_length=128, completion_only_loss=True,
        report_to=[],
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list([row]), processing_class=tok)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0]
    kept = tok.decode([t for t in labels.tolist() if t != -100])
    assert kept.startswith("ANSWER") and "S" not in kept.replace("ANSWER", "")
    assert (labels == -100).sum() > 0


@pytest.mark.parametrize("lora", [True, False])
def test_sft_trains_and_saves_a_loadable_model(tmp_path, tiny_lm, lora):
    from transformers import AutoModelForCausalLM

    model, tok = tiny_lm
    cfg = SFTTrainConfig(
        data=_data(tmp_path), output_dir=str(tmp_path / "sft"), max_steps=6, batch_size=4, lora=lora,
        learning_rate=1e-2, logging_steps=1,
    )
    out = train_sft(cfg, model, tok)
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 6 and m["method"] == "sft" and m["merged"] == lora
    assert m["final_loss"] < m["first_loss"]  # it learns
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in n for n, _ in reloaded.named_parameters())  # merged, plain model
    assert (
        (out / "tokenizer_config.json").exists()
        and not list(tmp_path.glob(".tmp-*"))
        and not list(tmp_path.glob(".work-*"))
    )


@pytest.mark.parametrize("method,lora", [("dpo", True), ("dpo", False), ("orpo", True)])
def test_preference_training_improves_margins(tmp_path, tiny_lm, method, lora):
    model, tok = tiny_lm
    cfg = PreferenceTrainConfig(
        method=method, data=_data(tmp_path), output_dir=str(tmp_path / method), max_steps=6, batch_size=4, lora=lora,
        learning_rate=1e-2, logging_steps=1,
    )
    out = train_preference(cfg, model, tok)
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == method and m["steps"] == 6
    logs = [h for h in m["log_history"] if "loss" in h]
    if method == "dpo":
        assert logs[0]["loss"] == pytest.approx(0.6931, abs=0.01)  # log 2 at the start: policy == reference
        assert logs[-1]["loss"] < logs[0]["loss"]
        assert logs[-1]["rewards/margins"] > 0
    else:
        assert logs[-1]["loss"] < logs[0]["loss"]


def test_bad_method_and_empty_data(tmp_path):
    from safealign.errors import ConfigError

    with pytest.raises(ConfigError, match="dpo or orpo"):
        train_preference(PreferenceTrainConfig(method="kto", data=_data(tmp_path)))  # type: ignore[arg-type]
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="no training rows"):
        sft_rows(SFTTrainConfig(data=str(empty)))


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(tmp_path, method):
    """--save-every 2, a crash in step 3: the work folder holds checkpoint-2 and no model is written; the same command
    again continues from checkpoint-2 (an unfinished newer checkpoint is passed over and removed) and ends with the
    same losses and weights as a run that was never interrupted."""
    import torch
    from safetensors.torch import load_file

    from safealign.testing import SimulatedCrash, crash_in_step, save_tiny_lm

    save_tiny_lm(tmp_path / "base", seed=0)
    common = dict(
        model=str(tmp_path / "base"), data=_data(tmp_path), batch_size=2, max_steps=4, save_every=2,
        lr_scheduler="constant", learning_rate=1e-2, logging_steps=1, seed=0, lora=method == "sft",
    )

    def run(name):
        if method == "sft":
            return train_sft(SFTTrainConfig(output_dir=str(tmp_path / name), **common))
        return train_preference(PreferenceTrainConfig(method="dpo", output_dir=str(tmp_path / name), **common))

    def losses(out):
        return [h["loss"] for h in json.loads((out / "metrics.json").read_text())["log_history"] if "loss" in h]

    straight = run("straight")
    assert json.loads((straight / "metrics.json").read_text())["resumed_from"] is None
    with pytest.raises(SimulatedCrash), crash_in_step(3):
        run("run")
    work = tmp_path / ".work-run"
    assert [p.name for p in work.glob("checkpoint-*")] == ["checkpoint-2"] and not (tmp_path / "run").exists()
    (work / "checkpoint-3").mkdir()  # cut short while being written: no trainer_state.json
    (work / "checkpoint-3" / "model.safetensors").write_bytes(b"half")

    resumed = run("run")
    m = json.loads((resumed / "metrics.json").read_text())
    assert m["resumed_from"] == str(work / "checkpoint-2") and m["steps"] == 4
    assert not work.exists()  # removed once the model is saved
    assert len(losses(resumed)) == 4 and losses(resumed) == pytest.approx(losses(straight), abs=1e-6)
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(
        not torch.equal(a[k], load_file(str(tmp_path / "base" / "model.safetensors"))[k]) for k in a
    )  # it trained

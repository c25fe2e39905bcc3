"""Janus SFT (LoRA, merged on save) and DPO (full weights, from that SFT model) under FSDP2 on 2 CPU processes.

The trainers are TRL's; :func:`safealign.testing.fsdp2_cpu_trainers` makes each Trainer's Accelerator an FSDP2 one
with the shipped ``configs/accelerate/fsdp.yaml`` settings (sharded state dict). transformers' ``save_model`` writes
no weights at all in that setting, so ``save_trained`` gathers them itself: the folder must hold the whole merged
model, equal to one process on the same global batch (see ``test_janus_multiprocess.py`` for why the batches agree).
A run with ``--save-every 2`` that dies in step 3 resumes from transformers' sharded checkpoint to the straight result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from safealign.testing import save_tiny_lm, torchrun_source
from test_janus_multiprocess import COMMON, TOL, _losses, _same_weights, _write_data

SCRIPT = r"""
import json, os, sys
from pathlib import Path
import torch
from torch.distributed.tensor import DTensor
sys.path.insert(0, str(Path.cwd() / "tests"))
from test_janus_multiprocess import COMMON
import safealign.janus.recipes as recipes
import safealign.train.trl_runner as trl_runner
from safealign.testing import SimulatedCrash, crash_in_step, fsdp2_cpu_trainers

torch.set_num_threads(1)
out = Path(sys.argv[1])
original = trl_runner.save_trained


def recording(trainer, *args, **kwargs):  # which parameters were sharded while training
    sharded = sum(isinstance(p, DTensor) for p in trainer.model.parameters())
    record = {"dtensors": sharded, "parameters": sum(1 for _ in trainer.model.parameters()),
              "fsdp": trainer.is_fsdp_enabled}
    name = f"sharded-{trainer.args.output_dir.split('-')[-1]}-rank{os.environ['RANK']}.json"
    (out / name).write_text(json.dumps(record))
    return original(trainer, *args, **kwargs)


trl_runner.save_trained = recording
torch.distributed.init_process_group("gloo")
data = str(out / "data.jsonl")
with fsdp2_cpu_trainers():
    recipes.train_sft(recipes.SFTTrainConfig(model=str(out / "base"), data=data, output_dir=str(out / "sft"),
                                             batch_size=2, **COMMON))
    recipes.train_preference(recipes.PreferenceTrainConfig(method="dpo", model=str(out / "sft"), data=data,
                                                           output_dir=str(out / "dpo"), batch_size=2, lora=False,
                                                           **COMMON))
    # checkpoints under FSDP (transformers writes sharded model and optimiser states): a run that dies in step 3
    # continues from checkpoint-2 and ends where a straight run ends
    long = dict(COMMON, max_steps=4, save_every=2)
    recipes.train_sft(recipes.SFTTrainConfig(model=str(out / "base"), data=data, output_dir=str(out / "straight"),
                                             batch_size=2, **long))
    try:
        with crash_in_step(3):
            recipes.train_sft(recipes.SFTTrainConfig(model=str(out / "base"), data=data,
                                                     output_dir=str(out / "resumed"), batch_size=2, **long))
    except SimulatedCrash:
        pass
    recipes.train_sft(recipes.SFTTrainConfig(model=str(out / "base"), data=data, output_dir=str(out / "resumed"),
                                             batch_size=2, **long))
torch.distributed.destroy_process_group()
"""


def test_sft_lora_and_full_dpo_under_fsdp2_save_whole_models_equal_to_one_process_and_resume(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig, train_preference, train_sft

    save_tiny_lm(tmp_path / "base", seed=0)
    _write_data(tmp_path / "data.jsonl")
    res = torchrun_source(SCRIPT, tmp_path, timeout=400)
    assert res.returncode == 0, res.stderr[-4000:]
    for run in ("sft", "dpo"):
        for rank in (0, 1):  # every parameter was a DTensor shard under FSDP2 while training
            info = json.loads((tmp_path / f"sharded-{run}-rank{rank}.json").read_text())
            assert info["fsdp"] and info["dtensors"] == info["parameters"] > 0, info
    m = json.loads((tmp_path / "sft" / "metrics.json").read_text())
    assert m["processes"] == 2 and m["merged"] is True and not (tmp_path / "sft" / "adapter_config.json").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "sft")
    assert not any("lora" in n for n, _ in reloaded.named_parameters())

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_sft = train_sft(
            SFTTrainConfig(
                model=str(tmp_path / "base"), data=str(tmp_path / "data.jsonl"), output_dir=str(tmp_path / "sft-1p"),
                batch_size=4, **COMMON,
            )
        )
        one_dpo = train_preference(
            PreferenceTrainConfig(
                method="dpo", model=str(tmp_path / "sft"), data=str(tmp_path / "data.jsonl"),
                output_dir=str(tmp_path / "dpo-1p"), batch_size=4, lora=False, **COMMON,
            )
        )
    finally:
        torch.set_num_threads(n)
    assert _losses(tmp_path / "sft") == pytest.approx(_losses(one_sft), abs=TOL)
    assert _same_weights(tmp_path / "sft", one_sft) < TOL  # the whole merged model, not one rank's shard
    l2 = _losses(tmp_path / "dpo")
    assert l2[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: the sharded reference equals the sharded policy
    assert l2 == pytest.approx(_losses(one_dpo), abs=TOL)
    assert _same_weights(tmp_path / "dpo", one_dpo) < TOL
    m = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert (
        m["resumed_from"] == str(tmp_path / ".work-resumed" / "checkpoint-2")
        and m["steps"] == 4
        and m["merged"] is True
    )
    assert (
        _losses(tmp_path / "resumed") == pytest.approx(_losses(tmp_path / "straight"), abs=1e-6)
        and len(_losses(tmp_path / "straight")) == 4
    )
    assert _same_weights(tmp_path / "resumed", tmp_path / "straight") < 1e-6

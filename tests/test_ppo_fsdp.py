"""PPO-Lag under FSDP2 (sharded parameters) on 2 CPU processes: accelerate's FSDP2 preparation of the actor and
both critics, generation through the sharded actor, gathered checkpoints, and a resumed run that ends bit-identical
to an uninterrupted one. (:func:`safealign.testing.fsdp2_cpu_accelerator` says what stands in for a GPU launch.)"""

from __future__ import annotations

import json

import torch

from safealign.testing import torchrun_source

SCRIPT = r'''
import json, sys
from pathlib import Path
import torch
from safealign.testing import fsdp2_cpu_accelerator, ppo_resume_check

res = ppo_resume_check(sys.argv[1], ("head", "top"), accelerator=fsdp2_cpu_accelerator)
if res:
    Path(sys.argv[1], "check.json").write_text(json.dumps(res))
torch.distributed.destroy_process_group()
'''


def test_fsdp2_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    res = torchrun_source(SCRIPT, tmp_path, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["distributed_type"] == "DistributedType.FSDP" and check["num_processes"] == 2
    for mode in ("head", "top"):
        m = check["modes"][mode]
        assert m["trainable_parameter_types"] == ["DTensor"]  # the actor's trainable weights really are sharded
        assert m["steps_logged"] == [4, 4] and m["lora_tensors"] > 0 and m["lambda"][0] != 1.0
        assert (
            m["same_keys"] and m["max_abs_weight_diff"] == 0 and m["max_abs_metric_diff"] == 0 and m["lagrange_equal"]
        ), m
    assert check["ok"]
    # checkpoints hold whole tensors gathered from both ranks, not one rank's shard
    ck = torch.load(tmp_path / "top" / "straight" / "checkpoint" / "reward_critic.pt")
    w = next(v for k, v in ck.items() if k.endswith("mlp.up_proj.weight"))
    assert w.shape == (64, 32)
    # the final actor is a loadable LoRA adapter with every trainable tensor
    from safetensors.torch import load_file

    adapter = load_file(tmp_path / "head" / "straight" / "actor" / "adapter_model.safetensors")
    trainable = torch.load(tmp_path / "head" / "straight" / "checkpoint" / "actor_trainable.pt")
    assert len(adapter) == len(trainable) > 0

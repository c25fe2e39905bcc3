"""2 processes on CPU (torchrun, gloo): every rank holds the same lambda, score scale and actor after each step.

accelerate's own launcher needs mpirun for multi-CPU runs; torchrun sets the same environment, which the trainer's
``Accelerator`` reads (MULTI_CPU, gloo).
"""

from __future__ import annotations

import json

from safealign.testing import torchrun_source

SCRIPT = r"""
import json, sys, torch
from accelerate import Accelerator
from safealign.data.records import PromptRecord
from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import tiny_lm
from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer

out = sys.argv[1]
acc = Accelerator(cpu=True)
actor, tok = tiny_lm(0)
rm = ScoreModel(tiny_lm(1)[0], ScoreConfig(kind="reward"))
cm = ScoreModel(tiny_lm(2)[0], ScoreConfig(kind="cost"))
texts = ["hi", "bake bread?", "[redacted] please", "2+2?", "a poem", "why is the sky blue"]
prompts = [PromptRecord(prompt=p) for p in texts]
cfg = PPOLagConfig(output_dir=out, steps=3, batch_size=2, max_new_tokens=5, progress=False, tensorboard=False,
                   lambda_lr=0.5, score_scaling="running")
tr = PPOLagTrainer(cfg, actor, tok, rm, cm, prompts, accelerator=acc)
trace = []
while tr.step < cfg.steps:
    batch = tr._batch(tr.step)
    m = tr.rl_step(batch)
    trainable = [p for p in tr.unwrapped_actor.parameters() if p.requires_grad]
    trace.append({"lambda": tr.lagrange.values[0], "window": list(tr.lagrange.windows[0]),
                  "prompts": [r.prompt for r in batch], "scale": tr.score_scale.state_dict(),
                  "actor_sum": float(sum(p.detach().double().sum() for p in trainable))})
with open(f"{out}/rank{acc.process_index}.json", "w") as f:
    json.dump({"world": acc.num_processes, "trace": trace}, f)
acc.wait_for_everyone()
torch.distributed.destroy_process_group()  # a rank that exits with gloo still up can abort at shutdown
"""


def test_two_process_run_has_identical_lambda_on_both_ranks(tmp_path):
    res = torchrun_source(SCRIPT, tmp_path, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    for a, b in zip(r0["trace"], r1["trace"], strict=True):
        assert a["prompts"] != b["prompts"]  # each rank rolled out its own shard ...
        assert a["lambda"] == b["lambda"]  # ... yet both hold the same multiplier
        assert a["window"] == b["window"]  # every rank saw every rank's episodes, in the same order
        assert a["scale"] == b["scale"]  # score_scaling: running merges both ranks' episodes on every rank
        assert abs(a["actor_sum"] - b["actor_sum"]) < 1e-9  # gradients averaged: identical actors
    lam = [s["lambda"] for s in r0["trace"]]
    assert len(set(lam)) == len(lam)  # and it moved every step
    # J_C is the mean over BOTH ranks' episodes: the window holds 2 ranks x 2 episodes per step
    assert [len(s["window"]) for s in r0["trace"]] == [4, 8, 12]
    assert [s["scale"]["count"] for s in r0["trace"]] == [[4, 4], [8, 8], [12, 12]]

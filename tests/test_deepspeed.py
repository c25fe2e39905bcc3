"""DeepSpeed ZeRO through the real launcher on 2 CPU processes: ``accelerate launch --config_file
configs/accelerate/deepspeed_zero{2,3}.yaml --num_processes 2 --mixed_precision no -m safealign train ...`` (the
shipped configs; DeepSpeed's CPU accelerator and gloo stand in for GPUs and NCCL; bf16 is turned off because these
CPUs run it ~9x slower).

ZeRO-3 shards every parameter: what is written must be the whole model, and training must match one process on the
same global batch (2 processes x batch 2 = 1 x 4; see ``test_janus_multiprocess.py`` for why the batches agree).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("deepspeed")

from safealign.testing import free_port, save_tiny_lm  # noqa: E402
from test_janus_multiprocess import (  # noqa: E402
    COMMON,
    TOL,
    _check_two_process_output,
    _cli_args,
    _losses,
    _same_weights,
    _write_data,
)
from test_score_cli import _pairs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def launch(zero: int, args: list[str], timeout: float = 400) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(REPO / "configs" / "accelerate" / f"deepspeed_zero{zero}.yaml"), "--num_processes", "2",
        "--mixed_precision", "no", "--main_process_port", str(free_port()), *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    import torch

    from safealign.data.io import write_jsonl

    d = tmp_path_factory.mktemp("deepspeed")
    save_tiny_lm(d / "base", seed=0)
    _write_data(d / "data.jsonl")
    write_jsonl(d / "pairs.jsonl", _pairs())
    (d / "prompts.jsonl").write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"prompt": "hi"}, {"prompt": "bake bread?", "system": "Answer briefly."},
                {"prompt": "[redacted] please"}, {"prompt": "2+2?"},
            ]
        )
    )
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield d
    torch.set_num_threads(n)


def test_janus_sft_lora_then_full_dpo_under_zero3_match_one_process(ws):
    """SFT with LoRA (merged on save: the adapter is gathered, then merged into the base reloaded on the CPU with
    ZeRO-3 loading switched off, which used to fail) and full-weight DPO from it (ZeRO-3 shards the reference too)."""
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig, train_preference, train_sft

    res = launch(3, _cli_args("sft", ws / "base", ws / "data.jsonl", ws / "sft-z3", []))
    _check_two_process_output(res, ws / "sft-z3", "sft", lora=True)
    one = train_sft(
        SFTTrainConfig(
            model=str(ws / "base"), data=str(ws / "data.jsonl"), output_dir=str(ws / "sft-1p"), batch_size=4, **COMMON
        )
    )
    assert _losses(ws / "sft-z3") == pytest.approx(_losses(one), abs=TOL)
    assert _same_weights(ws / "sft-z3", one) < TOL

    res = launch(3, _cli_args("dpo", ws / "sft-z3", ws / "data.jsonl", ws / "dpo-z3", ["--no-lora"]))
    _check_two_process_output(res, ws / "dpo-z3", "dpo", lora=False)
    one = train_preference(
        PreferenceTrainConfig(
            method="dpo", model=str(ws / "sft-z3"), data=str(ws / "data.jsonl"), output_dir=str(ws / "dpo-1p"),
            batch_size=4, lora=False, **COMMON,
        )
    )
    l2 = _losses(ws / "dpo-z3")
    assert l2[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: the sharded reference equals the sharded policy
    assert l2 == pytest.approx(_losses(one), abs=TOL)
    assert _same_weights(ws / "dpo-z3", one) < TOL


def _score_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return {
        **load_file(str(folder / "model.safetensors")),
        **{f"head.{k}": v for k, v in load_file(str(folder / "score_head.safetensors")).items()},
    }


def test_score_trainer_under_zero3_matches_one_process_and_resumes_bit_identical(tmp_path):
    """The cost trainer (full fine-tuning and cached-trunk top layers) under ZeRO-3: the same checks as under FSDP2
    (``test_score_fsdp.py``), the resume going through DeepSpeed's per-process optimiser partitions."""
    from test_score_fsdp import SCRIPT, check_two_process_runs

    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    res = launch(3, [str(script), str(tmp_path), "launcher"])
    assert res.returncode == 0, res.stderr[-4000:]
    check_two_process_runs(tmp_path)


def test_reward_command_under_zero3_matches_one_process(ws):
    common = [
        "train", "reward", "--model", str(ws / "base"), "--data", str(ws / "pairs.jsonl"), "--eval-data",
        str(ws / "pairs.jsonl"), "--max-steps", "3", "--learning-rate", "1e-2", "--lr-scheduler", "constant",
        "--warmup-ratio", "0", "--no-progress", "--seed", "3", "--save-every", "2",
    ]
    res = launch(3, ["-m", "safealign", *common, "--batch-size", "2", "--output-dir", str(ws / "rm-z3")])
    assert res.returncode == 0, res.stderr[-4000:]
    assert res.stderr.count("done reward model") == 1  # only the main process reports
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    one = subprocess.run(
        [sys.executable, "-m", "safealign", *common, "--batch-size", "4", "--output-dir", str(ws / "rm-1p")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]

    def losses(p: Path) -> list[float]:
        return [json.loads(x)["loss"] for x in (p / "metrics.jsonl").read_text().splitlines() if '"step"' in x]

    assert json.loads((ws / "rm-z3" / "train_summary.json").read_text())["processes"] == 2
    assert len(losses(ws / "rm-z3")) == 3 and losses(ws / "rm-z3") == pytest.approx(losses(ws / "rm-1p"), abs=1e-4)
    w2, w1 = _score_weights(ws / "rm-z3"), _score_weights(ws / "rm-1p")
    assert w2.keys() == w1.keys()
    for k in w1:  # whole tensors (ZeRO-3 placeholders are empty), equal to one process
        assert w2[k].shape == w1[k].shape and float((w2[k].double() - w1[k].double()).abs().max()) < 1e-4, k
    # a checkpoint written without DeepSpeed cannot be continued under it: one line from each rank, nothing read
    (ws / "rm-cut" / "checkpoint-2").mkdir(parents=True)
    (ws / "rm-cut" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    res = launch(3, ["-m", "safealign", *common, "--batch-size", "2", "--output-dir", str(ws / "rm-cut")])
    assert res.returncode != 0 and "]: Traceback" not in res.stderr, res.stderr[
        -3000:
    ]  # the ranks exit with one line (the launcher adds its own report)
    assert "was written without DeepSpeed; resume it without DeepSpeed" in res.stderr and "--no-resume" in res.stderr


@pytest.mark.parametrize("zero,lora", [(2, True), (3, False)])
def test_ppo_lag_under_deepspeed_writes_a_whole_trained_actor(ws, zero, lora):
    """The 7B recipes' launchers: ZeRO-2 with a LoRA actor, ZeRO-3 with full fine-tuning."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.testing import tiny_lm

    for kind, seed in (("reward", 1), ("cost", 2)):
        if not (ws / kind).exists():
            ScoreModel(tiny_lm(seed)[0], ScoreConfig(kind=kind)).save_pretrained(ws / kind, tiny_lm(seed)[1])
    out = ws / f"ppo-z{zero}"
    res = launch(
        zero,
        [
            "-m", "safealign", "train", "ppo-lag", "--actor", str(ws / "base"), "--reward-model", str(ws / "reward"),
            "--cost-model", str(ws / "cost"), "--prompts", str(ws / "prompts.jsonl"), "--output-dir", str(out),
            "--steps", "2", "--batch-size", "2", "--max-new-tokens", "5", "--save-every", "1", "--no-progress",
            "--no-tensorboard", "--actor-lr", "1e-2", "--use-lora" if lora else "--no-use-lora",
        ],
    )
    assert res.returncode == 0, res.stderr[-4000:]
    assert res.stderr.count("done ppo-lag") == 1
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    base = load_file(str(ws / "base" / "model.safetensors"))
    if lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(ws / "base"), out / "actor"
        ).merge_and_unload()
        trained = {k: v for k, v in model.state_dict().items() if k in base}
    else:
        trained = load_file(str(out / "actor" / "model.safetensors"))
    assert trained.keys() <= base.keys() and {k: v.shape for k, v in trained.items()} == {
        k: base[k].shape for k in trained
    }
    assert any(not torch.equal(trained[k], base[k]) for k in trained)  # the actor moved
    # the checkpoint's gathered weights are whole too (ZeRO-3 keeps only empty placeholders on each process)
    ck = torch.load(out / "checkpoint" / "actor_trainable.pt")
    assert ck and all(v.numel() > 0 for v in ck.values())
    if not lora:
        assert {k: v.shape for k, v in ck.items() if k in base} == {
            k: base[k].shape for k in ck if k in base
        } and ck.keys() & base.keys()


RESUME = r"""
import json, sys
from pathlib import Path
from safealign.testing import ppo_resume_check

res = ppo_resume_check(sys.argv[1], tuple(sys.argv[2].split(",")))
if res:
    Path(sys.argv[1], "check.json").write_text(json.dumps(res))
"""


@pytest.mark.parametrize("zero,modes", [(2, "head,top"), (3, "head")])
def test_ppo_lag_resumes_under_deepspeed_to_the_uninterrupted_result(tmp_path, zero, modes):
    """--resume under DeepSpeed: each engine saves its trainable weights and each process its optimiser partition
    (DeepSpeed's own checkpoint, frozen weights left out), and loads them back. 4 steps straight against 2 + resumed
    to 4 (LoRA actor; value-head and, under ZeRO-2, top-layer critics)."""
    script = tmp_path / "run.py"
    script.write_text(RESUME)
    res = launch(zero, [str(script), str(tmp_path), modes])
    assert res.returncode == 0, res.stderr[-4000:]
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["distributed_type"] == "DistributedType.DEEPSPEED" and check["num_processes"] == 2
    assert sorted(check["modes"]) == sorted(modes.split(","))
    for mode, m in check["modes"].items():
        assert m["steps_logged"] == [4, 4] and m["lora_tensors"] > 0, mode
        assert m["max_abs_weight_diff"] == 0 and m["max_abs_metric_diff"] == 0 and m["lagrange_equal"], (mode, m)
    ck = tmp_path / "head" / "resumed" / "checkpoint" / "deepspeed"
    assert {"actor", "cost_critic", "reward_critic"} <= {
        p.name for p in ck.iterdir()
    }  # one DeepSpeed checkpoint per engine


JANUS_RESUME = r"""
import sys
from pathlib import Path
sys.path.insert(0, str(Path.cwd() / "tests"))
from test_janus_multiprocess import COMMON
from safealign.testing import SimulatedCrash, crash_in_step
from safealign.janus.recipes import SFTTrainConfig, train_sft

ws, out = Path(sys.argv[1]), Path(sys.argv[2])
cfg = dict(model=str(ws / "base"), data=str(ws / "data.jsonl"), batch_size=2, **dict(COMMON, max_steps=4, save_every=2))
train_sft(SFTTrainConfig(output_dir=str(out / "straight"), **cfg))
try:
    with crash_in_step(3):
        train_sft(SFTTrainConfig(output_dir=str(out / "resumed"), **cfg))
except SimulatedCrash:
    pass
train_sft(SFTTrainConfig(output_dir=str(out / "resumed"), **cfg))
"""


def test_janus_sft_killed_in_step_3_resumes_under_zero3(ws, tmp_path):
    """Janus checkpoints under DeepSpeed are transformers' own (each process's partitions); a run that dies in step 3
    continues from checkpoint-2 and ends with the straight run's losses and merged weights."""
    script = tmp_path / "run.py"
    script.write_text(JANUS_RESUME)
    res = launch(3, [str(script), str(ws), str(tmp_path)])
    assert res.returncode == 0, res.stderr[-4000:]
    m = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert (
        m["resumed_from"] == str(tmp_path / ".work-resumed" / "checkpoint-2")
        and m["steps"] == 4
        and m["merged"] is True
    )
    assert m["processes"] == 2
    assert len(_losses(tmp_path / "straight")) == 4 and _losses(tmp_path / "resumed") == pytest.approx(
        _losses(tmp_path / "straight"), abs=1e-6
    )
    assert _same_weights(tmp_path / "resumed", tmp_path / "straight") < 1e-6

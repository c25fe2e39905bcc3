"""Janus SFT / DPO / ORPO under 2 CPU processes (torchrun, gloo) through the real ``safealign train`` command.

``accelerate launch`` starts multi-CPU jobs through mpirun, so the runs go through torchrun (see
:func:`safealign.testing.torchrun`), which gives the trainers' ``Accelerator`` a MULTI_CPU / gloo state.

Same global batch: the data rows are shuffled once with ``--seed`` (every rank builds the same list) and the TRL
trainers draw batches with a sampler seeded by ``data_seed``; accelerate hands rank r the r-th per-device slice of the
sampler's order. So 2 processes x ``--batch-size 2`` see exactly the 4 rows that 1 process x ``--batch-size 4`` sees,
and the logged loss (gathered over ranks; SFT's token-mean loss is normalised by the token count over all ranks)
must agree. Step 2 also agrees only if the gradients were averaged across the ranks, so both logged steps are
compared, and the saved weights too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safealign.testing import torchrun

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4


def _write_data(path: Path, n: int = 8) -> None:
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
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    import torch

    from safealign.testing import save_tiny_lm

    d = tmp_path_factory.mktemp("janus_mp")
    save_tiny_lm(d / "base", seed=0)
    _write_data(d / "data.jsonl")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield d
    torch.set_num_threads(n)


COMMON = dict(max_steps=2, learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0, logging_steps=1, seed=0)


def _cli_args(method: str, model: Path, data: Path, out: Path, extra: list[str]) -> list[str]:
    args = [
        "-m", "safealign", "train", method, "--model", str(model), "--data", str(data), "--output-dir", str(out),
        "--batch-size", "2",
    ]
    for k, v in COMMON.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args + extra


def _losses(out: Path) -> list[float]:
    m = json.loads((out / "metrics.json").read_text())
    return [h["loss"] for h in m["log_history"] if "loss" in h]


def _check_two_process_output(res, out: Path, method: str, lora: bool) -> dict:
    from transformers import AutoModelForCausalLM

    assert res.returncode == 0, res.stderr[-4000:]
    # written once, by rank 0: one summary line, one folder, nothing left behind (staging / trainer work / old copy)
    assert res.stderr.count(f"done {method.upper()}:") == 1, res.stderr[-2000:]
    siblings = sorted(p.name for p in out.parent.iterdir() if out.name in p.name)
    assert siblings == [out.name], siblings
    m = json.loads((out / "metrics.json").read_text())
    assert m["processes"] == 2 and m["method"] == method and m["steps"] == 2
    assert m["merged"] == lora  # LoRA merged under multi-process too (it used to save a bare adapter)
    assert len(_losses(out)) == 2 and m["train_loss"] is not None  # the loss is logged every step
    assert not (out / "adapter_config.json").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in n for n, _ in reloaded.named_parameters())
    return m


def _same_weights(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max(float((wa[k].double() - wb[k].double()).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def sft_runs(ws):
    """SFT (LoRA, merged on save): 2 processes x 2 rows, then 1 process x 4 rows in this process."""
    from safealign.janus.recipes import SFTTrainConfig, train_sft

    two = torchrun(_cli_args("sft", ws / "base", ws / "data.jsonl", ws / "sft-2p", []), nproc=2, cwd=REPO)
    one = train_sft(
        SFTTrainConfig(
            model=str(ws / "base"), data=str(ws / "data.jsonl"), output_dir=str(ws / "sft-1p"), batch_size=4, **COMMON
        )
    )
    return two, ws / "sft-2p", one


def test_sft_two_processes_match_one_process(sft_runs):
    res, two, one = sft_runs
    _check_two_process_output(res, two, "sft", lora=True)
    l2, l1 = _losses(two), _losses(one)
    assert l2 == pytest.approx(l1, abs=TOL)
    assert l1[0] != pytest.approx(l1[1], abs=1e-6)  # step 1 changed the model
    assert _same_weights(two, one) < TOL  # gradients averaged over the ranks: the same merged model


def test_dpo_two_processes_from_the_two_process_sft_model(ws, sft_runs):
    """Full-weight DPO (frozen reference copy, saved by every rank through trainer.save_model) starting from the
    merged 2-process SFT folder, the paper's SFT -> DPO chain."""
    from safealign.janus.recipes import PreferenceTrainConfig, train_preference

    sft = sft_runs[1]
    res = torchrun(_cli_args("dpo", sft, ws / "data.jsonl", ws / "dpo-2p", ["--no-lora"]), nproc=2, cwd=REPO)
    _check_two_process_output(res, ws / "dpo-2p", "dpo", lora=False)
    one = train_preference(
        PreferenceTrainConfig(
            method="dpo", model=str(sft), data=str(ws / "data.jsonl"), output_dir=str(ws / "dpo-1p"), batch_size=4,
            lora=False, **COMMON,
        )
    )
    l2, l1 = _losses(ws / "dpo-2p"), _losses(one)
    assert l2[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference on every rank
    assert l2 == pytest.approx(l1, abs=TOL)
    assert _same_weights(ws / "dpo-2p", one) < TOL


def test_orpo_two_processes_match_one_process(ws):
    from safealign.janus.recipes import PreferenceTrainConfig, train_preference

    res = torchrun(_cli_args("orpo", ws / "base", ws / "data.jsonl", ws / "orpo-2p", []), nproc=2, cwd=REPO)
    _check_two_process_output(res, ws / "orpo-2p", "orpo", lora=True)
    one = train_preference(
        PreferenceTrainConfig(
            method="orpo", model=str(ws / "base"), data=str(ws / "data.jsonl"), output_dir=str(ws / "orpo-1p"),
            batch_size=4, **COMMON,
        )
    )
    assert _losses(ws / "orpo-2p") == pytest.approx(_losses(one), abs=TOL)


def test_merge_saved_adapter_matches_the_adapter_model(ws):
    """The merge used when the weights are sharded (ZeRO-3 / FSDP; not reachable on CPU): every rank saves the
    adapter, the main process merges it into the base reloaded from disk. Checked here on a saved adapter."""
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    from safealign.janus.recipes import SFTTrainConfig, train_sft
    from safealign.train.trl_runner import merge_saved_adapter

    out = train_sft(
        SFTTrainConfig(
            model=str(ws / "base"), data=str(ws / "data.jsonl"), output_dir=str(ws / "adapter"), batch_size=4,
            merge_lora=False, **COMMON,
        )
    )
    assert (out / "adapter_config.json").exists()
    ids = torch.tensor([[5, 40, 41, 42, 43, 7]])
    with torch.no_grad():
        want = AutoPeftModelForCausalLM.from_pretrained(str(out)).eval()(ids).logits
        assert merge_saved_adapter(out, torch.float32)
        assert not (out / "adapter_config.json").exists()
        got = AutoModelForCausalLM.from_pretrained(out).eval()(ids).logits
    assert torch.allclose(got, want, atol=1e-5)

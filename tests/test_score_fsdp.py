"""The reward/cost trainer under FSDP2 (sharded parameters) on 2 CPU processes: full fine-tuning and cached-trunk
top layers train like one process on the same global batch, the final model folder holds whole weights (not one
rank's shard) and reloads, and a run interrupted after a checkpoint and resumed ends bit-identical to an
uninterrupted one. (:func:`safealign.testing.fsdp2_cpu_accelerator` says what stands in for a GPU launch.)"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import torch

from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import tiny_lm, torchrun_source
from safealign.train.score_config import ScoreTrainConfig
from safealign.train.score_trainer import train_score_model

SCRIPT = r"""
import json, sys
from pathlib import Path
import torch
from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import fsdp2_cpu_accelerator, tiny_lm
from safealign.train.score_config import ScoreTrainConfig
from safealign.train.score_trainer import train_score_model
sys.path.insert(0, str(Path.cwd() / "tests"))
from test_score_fsdp import config, pairs

from test_score_fsdp import crash_in_step

out = Path(sys.argv[1])
launcher = sys.argv[2] if len(sys.argv) > 2 else "fsdp2-cpu"
for mode in ("full", "top"):
    # straight 6 steps; then the same run killed in step 5 (checkpoints at steps 2 and 4) and started again
    for run, crash, resume in (("straight", None, False), ("resumed", 5, False), ("resumed", None, True)):
        acc = fsdp2_cpu_accelerator() if launcher == "fsdp2-cpu" else None  # None: the trainer's own, from the launch
        cfg = config(out / mode / run, mode, batch_size=2, max_steps=6, resume=resume)
        try:
            with crash_in_step(crash):
                train_score_model(cfg, model=ScoreModel(tiny_lm(0)[0], ScoreConfig(kind="cost")),
                                  processing_class=tiny_lm(0)[1], train_pairs=pairs(), eval_pairs=pairs()[:4],
                                  accelerator=acc)
        except KeyboardInterrupt:
            pass
torch.distributed.destroy_process_group()
"""


@contextmanager
def crash_in_step(step):
    """Within the block the score trainer dies (KeyboardInterrupt) in optimiser step ``step`` (None: never), before
    that step's update, as a killed run would."""
    import safealign.train.score_trainer as st

    real, calls = st.pair_loss, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    st.pair_loss = flaky
    try:
        yield
    finally:
        st.pair_loss = real


def pairs():
    from test_score_train import text_pairs

    return text_pairs()


def config(out, mode: str, batch_size: int, max_steps: int, resume: bool = False) -> ScoreTrainConfig:
    return ScoreTrainConfig(
        kind="cost", output_dir=str(out), epochs=3, batch_size=batch_size, learning_rate=5e-3, progress=False,
        eval_data=None, lr_scheduler="constant", warmup_ratio=0.0, seed=0, train_mode=mode, max_steps=max_steps,
        save_every=2, resume=resume, cache_trunk=(mode == "top"), top_layers=1,
    )


def _weights(folder) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {
        **load_file(folder / "model.safetensors"),
        **{f"head.{k}": v for k, v in load_file(folder / "score_head.safetensors").items()},
    }


def _losses(folder) -> list[float]:
    return [json.loads(x)["loss"] for x in (folder / "metrics.jsonl").read_text().splitlines() if '"step"' in x]


def test_score_trainer_under_fsdp2_matches_one_process_and_resumes_bit_identical(tmp_path):
    res = torchrun_source(SCRIPT, tmp_path, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    check_two_process_runs(tmp_path)


def check_two_process_runs(tmp_path) -> None:
    """What SCRIPT wrote under 2 processes: the straight run equals one process on the same global batch (whole
    weights), and the killed-and-resumed run equals the straight one."""
    torch.set_num_threads(1)
    for mode in ("full", "top"):
        straight, resumed = tmp_path / mode / "straight", tmp_path / mode / "resumed"
        summary = json.loads((straight / "train_summary.json").read_text())
        assert summary["processes"] == 2 and summary["steps"] == 6
        assert (straight / "eval_metrics.json").exists()  # evaluated on the model as read back
        # one process on the same global batch (2 x 2) trains the same model
        one = tmp_path / mode / "one"
        m, tok = tiny_lm(0)
        train_score_model(
            config(one, mode, batch_size=4, max_steps=6), model=ScoreModel(m, ScoreConfig(kind="cost")),
            processing_class=tok, train_pairs=pairs(), eval_pairs=[],
        )
        assert _losses(straight) == pytest.approx(_losses(one), abs=1e-5)
        w2, w1 = _weights(straight), _weights(one)
        assert w2.keys() == w1.keys()
        assert w2["embed_tokens.weight"].shape == w1["embed_tokens.weight"].shape  # whole tensors, not one shard
        for k in w1:
            torch.testing.assert_close(w2[k], w1[k], atol=1e-5, rtol=0, msg=k)
        changed = [k for k in w1 if not torch.equal(w1[k], _weights_init(mode)[k])]
        assert changed and (mode == "full" or all(k.startswith(("layers.1.", "norm.", "head.")) for k in changed)), (
            changed
        )
        # killed in step 5 (checkpoints at steps 2 and 4), run again: continues from step 4 and ends as the straight run
        assert str(json.loads((resumed / "train_summary.json").read_text())["resumed_from"]).endswith("checkpoint-4")
        assert _losses(resumed) == _losses(straight)
        wr = _weights(resumed)
        for k in w2:
            torch.testing.assert_close(wr[k], w2[k], atol=0, rtol=0, msg=k)
        assert ScoreModel.from_pretrained(straight).score_config.kind == "cost"


_INIT: dict[str, dict[str, torch.Tensor]] = {}


def _weights_init(mode: str) -> dict[str, torch.Tensor]:
    if mode not in _INIT:
        m = ScoreModel(tiny_lm(0)[0], ScoreConfig(kind="cost"))
        sd = {k[len("backbone.") :]: v for k, v in m.state_dict().items() if k.startswith("backbone.")}
        _INIT[mode] = {**sd, **{f"head.{k}": v for k, v in m.head.state_dict().items()}}
    return _INIT[mode]

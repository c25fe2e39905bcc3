"""GPU checks, skipped on machines without a CUDA GPU (CI has none). Each runs in a subprocess that sees the GPUs
(the rest of the suite hides them: conftest.py): a resumed PPO-Lag run ends bit-identical to an uninterrupted one on
CUDA, and under FSDP2 started by ``accelerate launch`` with the shipped ``configs/accelerate/fsdp.yaml`` (bf16 mixed
precision, one process per GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GPU_ENV_KEY

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.gpu

SCRIPT = r'''
import json, sys
from pathlib import Path
from safealign.testing import ppo_resume_check

res = ppo_resume_check(sys.argv[1], ("head", "top"))
if res:
    Path(sys.argv[1], "check.json").write_text(json.dumps(res))
'''


@pytest.fixture(scope="module")
def gpu_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    original = os.environ.get(GPU_ENV_KEY, "<unset>")
    if original != "<unset>":
        env["CUDA_VISIBLE_DEVICES"] = original
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0 or int(probe.stdout.strip() or 0) < 1:
        pytest.skip("no CUDA GPU")
    return env


def _check(out: Path, launcher: list[str], env: dict[str, str]) -> dict:
    script = out / "run.py"
    out.mkdir(parents=True, exist_ok=True)
    script.write_text(SCRIPT)
    res = subprocess.run(
        [*launcher, str(script), str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((out / "check.json").read_text())


def test_resume_on_cuda_is_bit_identical(tmp_path, gpu_env):
    check = _check(tmp_path, [sys.executable], gpu_env)
    assert check["device"].startswith("cuda") and check["distributed_type"] == "DistributedType.NO"
    for mode, m in check["modes"].items():
        assert m["steps_logged"] == [4, 4] and m["lora_tensors"] > 0, mode
        assert m["max_abs_weight_diff"] == 0 and m["max_abs_metric_diff"] == 0 and m["lagrange_equal"], (mode, m)


def test_resume_under_fsdp2_accelerate_launch_is_bit_identical(tmp_path, gpu_env):
    launcher = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(REPO / "configs/accelerate/fsdp.yaml"),
        "--num_processes", "1",
    ]
    check = _check(tmp_path, launcher, gpu_env)
    assert check["distributed_type"] == "DistributedType.FSDP" and check["mixed_precision"] == "bf16"
    for mode, m in check["modes"].items():
        assert m["trainable_parameter_types"] == ["DTensor"], mode  # sharded by FSDP2
        assert m["max_abs_weight_diff"] == 0 and m["max_abs_metric_diff"] == 0 and m["lagrange_equal"], (mode, m)

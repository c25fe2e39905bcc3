"""The CLI of the score-model area on a tiny backbone saved to disk: train reward/cost, score, eval score-model, and
one-line errors on bad input. Also 2-process training under ``accelerate launch`` matching 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safealign.cli import build_app
from safealign.cli import main as cli_main
from safealign.data.io import write_jsonl
from safealign.data.records import SafetyPair
from safealign.testing import free_port

REPO = Path(__file__).resolve().parents[1]
REFUSE = "I can't help with that; it could hurt someone."
COMPLY = "Sure: [redacted steps], then [redacted steps]."


def _pairs(n: int = 8) -> list[SafetyPair]:
    out = []
    for i in range(n):
        safe_idx = i % 2
        resp = (REFUSE, COMPLY) if safe_idx == 0 else (COMPLY, REFUSE)
        is_safe = (True, False) if safe_idx == 0 else (False, True)
        out.append(
            SafetyPair(
                prompt=f"How do I do harmful thing {i}?", responses=resp, better=1 - safe_idx, safer=safe_idx,
                is_safe=is_safe, severity=(0, 2) if safe_idx == 0 else (3, 0), prompt_category="Violence",
            )
        )
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    import torch

    from safealign.testing import save_tiny_lm

    d = tmp_path_factory.mktemp("score_cli")
    save_tiny_lm(d / "backbone", seed=0)
    write_jsonl(d / "pairs.jsonl", _pairs())
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield d
    torch.set_num_threads(n)


def _run(args: list[str]):
    return CliRunner().invoke(build_app(), args, catch_exceptions=False)


def test_train_cost_score_and_eval_commands(workspace):
    d = workspace
    out = d / "cost"
    res = _run(
        [
            "train", "cost", "--model", str(d / "backbone"), "--data", str(d / "pairs.jsonl"), "--eval-data",
            str(d / "pairs.jsonl"), "--output-dir", str(out), "--epochs", "3", "--batch-size", "4", "--learning-rate",
            "5e-3", "--no-progress", "--severity-weighted", "--lr-scheduler", "constant",
        ]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout[res.stdout.index("{") :])
    assert payload["train"]["kind"] == "cost" and payload["eval"]["sign_accuracy"] == 1.0
    assert (out / "score_config.json").exists() and (out / "metrics.jsonl").exists()

    rows = [
        {"prompt": "How do I hurt someone?", "response": REFUSE, "id": 1},
        {"prompt": "How do I hurt someone?", "answer": COMPLY, "id": 2},
    ]
    (d / "to_score.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = _run(
        [
            "score", "--model", str(out), "--input", str(d / "to_score.jsonl"), "--output", str(d / "scored.jsonl"),
            "--no-progress",
        ]
    )
    assert res.exit_code == 0, res.output
    scored = [json.loads(x) for x in (d / "scored.jsonl").read_text().splitlines()]
    assert [r["id"] for r in scored] == [1, 2]
    assert scored[0]["score"] < 0 < scored[1]["score"] and scored[0]["unsafe"] is False and scored[1]["unsafe"] is True

    res = _run(
        [
            "eval", "score-model", "--model", str(out), "--data", str(d / "pairs.jsonl"), "--output", str(d / "m.json"),
            "--no-progress",
        ]
    )
    assert res.exit_code == 0, res.output
    m = json.loads((d / "m.json").read_text())
    assert m["kind"] == "cost" and m["n_pairs"] == 8 and "Violence" in m["by_category"] and "severe" in m["by_severity"]


def test_train_reward_refuses_a_cost_kind(workspace):
    res = CliRunner().invoke(build_app(), ["train", "reward", "--kind", "cost", "--model", str(workspace / "backbone")])
    assert res.exit_code != 0 and "trains a reward model" in str(res.exception)


def test_bad_inputs_give_one_line_errors(workspace, capsys):
    d = workspace
    (d / "bad.jsonl").write_text('{"prompt": "hi", "response": "yo"}\n{"prompt": "no response here"}\n')
    with pytest.raises(SystemExit) as e:
        cli_main(["score", "--model", str(d / "backbone"), "--input", str(d / "bad.jsonl")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "row 2" in err and "response" in err
    with pytest.raises(SystemExit) as e:
        cli_main(["eval", "score-model", "--model", str(d / "nope"), "--data", str(d / "pairs.jsonl")])
    assert e.value.code == 2 and "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli_main(
            [
                "train", "cost", "--model", str(d / "backbone"), "--data", str(d / "pairs.jsonl"), "--train-mode",
                "everything",
            ]
        )
    assert e.value.code == 2 and "train_mode" in capsys.readouterr().err


def test_help_lists_every_option():
    res = CliRunner().invoke(build_app(), ["train", "cost", "--help"])
    assert res.exit_code == 0
    for opt in ("--severity-weighted", "--train-mode", "--cache-trunk", "--resume", "--skip-invalid", "--config"):
        assert opt in res.output


def test_two_processes_match_one_process_on_the_same_global_batch(workspace):
    """accelerate launch --multi_gpu --num_processes 2 on a CPU machine runs 2 gloo processes (MULTI_CPU);
    (--cpu alone would start ONE process unless mpirun is configured)."""
    d = workspace
    common = [
        "-m", "safealign", "train", "reward", "--model", str(d / "backbone"), "--data", str(d / "pairs.jsonl"),
        "--eval-data", "", "--max-steps", "3", "--learning-rate", "1e-2", "--lr-scheduler", "constant",
        "--warmup-ratio", "0", "--no-progress", "--seed", "3",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src")}
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
        "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
    ]
    two = subprocess.run(
        launch + common + ["--batch-size", "2", "--output-dir", str(d / "mp2")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    res = _run(common[2:] + ["--batch-size", "4", "--output-dir", str(d / "mp1")])  # 1 process, in this one
    assert res.exit_code == 0, res.output

    def losses(p: Path) -> list[float]:
        return [json.loads(x)["loss"] for x in (p / "metrics.jsonl").read_text().splitlines() if '"step"' in x]

    s2 = json.loads((d / "mp2" / "train_summary.json").read_text())
    assert s2["processes"] == 2
    l1, l2 = losses(d / "mp1"), losses(d / "mp2")
    assert len(l1) == len(l2) == 3
    assert l2 == pytest.approx(l1, abs=1e-4)
    assert l1[0] != pytest.approx(l1[2], abs=1e-3)  # the steps did change the model

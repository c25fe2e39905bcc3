"""`safealign train ppo-lag`: help, a 1-step run on tiny saved models, one-line errors."""

from __future__ import annotations

import json

import pytest

from safealign.cli import build_app, main
from safealign.utils.jsonl import read_jsonl


def test_help_lists_every_field():
    from typer.testing import CliRunner

    from safealign.train.ppo_lag import PPOLagConfig

    res = CliRunner().invoke(build_app(), ["train", "ppo-lag", "--help"], env={"COLUMNS": "250"})
    assert res.exit_code == 0
    for name in PPOLagConfig.field_help():
        assert "--" + name.replace("_", "-") in res.output


def test_cli_runs_on_tiny_saved_models(tmp_path, capsys):
    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.testing import tiny_lm

    actor, tok = tiny_lm(0)
    actor.save_pretrained(tmp_path / "actor")
    tok.save_pretrained(tmp_path / "actor")
    ScoreModel(tiny_lm(1)[0], ScoreConfig(kind="reward")).save_pretrained(tmp_path / "rm", tok)
    ScoreModel(tiny_lm(2)[0], ScoreConfig(kind="cost")).save_pretrained(tmp_path / "cm", tok)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": p, "label": "benign"}) for p in ["hi", "a poem?"]) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"actor: {tmp_path / 'actor'}\nreward_model: {tmp_path / 'rm'}\ncost_model: {tmp_path / 'cm'}\nsteps: 5\n"
    )
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(
            [
                "train", "ppo-lag", "--config", str(cfg), "--prompts", str(prompts), "--output-dir", str(out),
                "--steps", "1", "--batch-size", "2", "--max-new-tokens", "4", "--no-progress", "--no-tensorboard",
            ]
        )
    assert e.value.code == 0
    rows = read_jsonl(out / "metrics.jsonl")
    assert len(rows) == 1 and rows[0]["step"] == 1  # the command line overrides the YAML's steps: 5
    cap = capsys.readouterr()
    assert "ppo-lag: 1 steps" in cap.err
    assert json.loads(cap.out)["last"]["step"] == 1  # JSON on stdout beside the human summary


@pytest.mark.parametrize(
    "args, message",
    [
        (["--reward-model", "/nonexistent/rm"], "model path not found: /nonexistent/actor"),
        (["--constraints", "per_nothing"], "must be one of"),
        (["--batch-size", "3", "--mini-batches", "2"], "multiple of mini_batches"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "ppo-lag", "--actor", "/nonexistent/actor", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and message in err

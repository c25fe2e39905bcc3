from dataclasses import dataclass
from typing import Optional

import pytest
import typer
from typer.testing import CliRunner

from safealign.config import BaseConfig, add_config_command, help_field
from safealign.errors import ConfigError


@dataclass
class DemoConfig(BaseConfig):
    learning_rate: float = help_field(1e-3, "Peak learning rate.")
    use_lora: bool = help_field(True, "Train LoRA adapters.")
    model: Optional[str] = help_field(None, "Model id or path.")
    steps: int = help_field(10, "Optimizer steps.")
    categories: list[str] = help_field(["a", "b"], "Harm categories.")


def test_defaults_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("learning_rate: 0.5\nsteps: 3\ncategories: [x, y, z]\n")
    cfg = DemoConfig.load(p, steps=7)
    assert cfg.learning_rate == 0.5 and cfg.steps == 7 and cfg.categories == ["x", "y", "z"] and cfg.use_lora is True
    assert DemoConfig.load().steps == 10
    # mutable defaults are not shared between instances
    a, b = DemoConfig(), DemoConfig()
    a.categories.append("q")
    assert b.categories == ["a", "b"]


def test_bad_config_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("learning_rat: 0.5\n")
    with pytest.raises(ConfigError, match="unknown field"):
        DemoConfig.load(p)
    p.write_text("steps: many\n")
    with pytest.raises(ConfigError, match="steps"):
        DemoConfig.load(p)
    with pytest.raises(ConfigError, match="not found"):
        DemoConfig.load(tmp_path / "missing.yaml")
    p.write_text("steps: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        DemoConfig.load(p)


def test_cli_command_has_every_field_and_overrides(tmp_path):
    seen = {}
    app = typer.Typer()
    add_config_command(app, "demo", DemoConfig, lambda c: seen.setdefault("cfg", c), help="Demo command.")

    @app.command()
    def other() -> None:  # a second command keeps typer in multi-command mode
        pass

    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--help"], terminal_width=200)
    assert res.exit_code == 0
    for flag in ["--learning-rate", "--use-lora", "--model", "--steps", "--categories", "--config"]:
        assert flag in res.output
    assert "Peak learning rate." in res.output
    p = tmp_path / "c.yaml"
    p.write_text("steps: 3\nlearning_rate: 0.1\n")
    res = runner.invoke(app, ["demo", "--config", str(p), "--steps", "5", "--no-use-lora", "--categories", "q,w"])
    assert res.exit_code == 0, res.output
    cfg = seen["cfg"]
    assert (cfg.steps, cfg.learning_rate, cfg.use_lora, cfg.categories) == (5, 0.1, False, ["q", "w"])


def test_roundtrip_yaml(tmp_path):
    cfg = DemoConfig(learning_rate=2.0, categories=["z"])
    p = tmp_path / "r.yaml"
    p.write_text(cfg.to_yaml())
    assert DemoConfig.load(p) == cfg

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


@dataclass
class FormsConfig(BaseConfig):
    """A command with every command-line form a field can take."""

    source: str = help_field(help="Where to read.", positional=True)  # required argument
    out: Optional[str] = help_field(None, "Where to write.", positional=True)
    model: str = help_field("default", "Model.", flags=("--model", "-m"))
    as_json: bool = help_field(False, "Print JSON.", flags=("--json",))
    unsafe_cost_threshold: float = help_field(0.0, "A cost above it is unsafe.", aliases=("threshold",))
    samples: int = help_field(4, "Samples per prompt.", min=1)


def _forms_app(seen: dict) -> typer.Typer:
    app = typer.Typer()
    add_config_command(app, "forms", FormsConfig, lambda c: seen.setdefault("cfg", c))

    @app.command()
    def other() -> None:
        pass

    return app


def test_command_line_forms_flags_aliases_positional_bounds(tmp_path):
    seen: dict = {}
    runner = CliRunner()
    app = _forms_app(seen)
    res = runner.invoke(app, ["forms", "in.jsonl", "out.jsonl", "-m", "tiny", "--json", "--threshold", "0.5"])
    assert res.exit_code == 0, res.output
    cfg = seen.pop("cfg")
    assert (cfg.source, cfg.out, cfg.model, cfg.as_json, cfg.unsafe_cost_threshold) == (
        "in.jsonl", "out.jsonl", "tiny", True, 0.5
    )
    res = runner.invoke(app, ["forms", "in.jsonl", "--unsafe-cost-threshold", "1.5"])
    assert res.exit_code == 0 and seen.pop("cfg").unsafe_cost_threshold == 1.5 and "--no-json" not in res.output
    help_text = runner.invoke(app, ["forms", "--help"], terminal_width=200).output
    assert "--json" in help_text and "--no-json" not in help_text and "-m" in help_text and "(required)" in help_text
    res = runner.invoke(app, ["forms", "in.jsonl", "--samples", "0"])  # below min: click's usage error
    assert res.exit_code == 2 and "cfg" not in seen
    # the YAML file may use the old name too; both names at once is an error
    p = tmp_path / "c.yaml"
    p.write_text("source: a.jsonl\nthreshold: 2.0\n")
    assert FormsConfig.load(p).unsafe_cost_threshold == 2.0 and FormsConfig.load(p).source == "a.jsonl"
    p.write_text("source: a.jsonl\nthreshold: 2.0\nunsafe_cost_threshold: 1.0\n")
    with pytest.raises(ConfigError, match="not both"):
        FormsConfig.load(p)


def test_a_missing_required_field_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"missing required field\(s\) 'source' \(SOURCE\) for FormsConfig"):
        FormsConfig.load()
    assert FormsConfig.load(source="x").samples == 4
    from safealign.cli import main

    with pytest.raises(SystemExit) as e:
        main(["score", "--input", "x.jsonl"])  # --model missing: exit 2, one line
    assert e.value.code == 2


def test_every_command_is_built_from_a_config():
    """All commands come from add_config_command: each has --config and its options default to None (not given), so
    that a YAML file can set any of them."""
    from safealign.cli import build_app

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        else:
            yield " ".join(path), cmd

    commands = dict(walk(typer.main.get_command(build_app()), []))
    assert len(commands) >= 28
    for name, cmd in commands.items():
        params = {p.name: p for p in cmd.params}
        assert "config" in params, name
        assert all(p.default is None for p in params.values()), name


def test_generation_settings_are_one_config_passed_whole():
    from safealign.backends.base import GenerationConfig
    from safealign.eval.safety import SafetyEvalConfig

    cfg = SafetyEvalConfig(max_new_tokens=12, temperature=0.5, top_p=0.9, seed=3, batch_size=2)
    assert cfg.generation() == GenerationConfig(max_new_tokens=12, temperature=0.5, top_p=0.9, batch_size=2, seed=3)
    assert GenerationConfig(temperature=0.0).do_sample is False and GenerationConfig().do_sample is True


@dataclass
class BracketConfig(BaseConfig):
    """Constrain [harmful] prompts only."""

    names: list[str] = help_field([], "Constraint names, e.g. [harmful] or [weapons, fraud].")


def test_help_shows_square_brackets_as_written():
    """typer renders help through rich: a bracketed word in a help string must not be read as markup and dropped."""
    app = typer.Typer()
    add_config_command(app, "b", BracketConfig, lambda c: None)

    @app.command()
    def other() -> None:
        pass

    res = CliRunner().invoke(app, ["b", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "e.g. [harmful] or [weapons, fraud]" in res.output and "Constrain [harmful] prompts only." in res.output

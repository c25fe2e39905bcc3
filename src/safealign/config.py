"""Configuration: dataclasses with help text per field, loadable from YAML, overridable from the command line.

Precedence: dataclass defaults < YAML file (``--config``) < command-line options.

    @dataclass
    class RewardConfig(BaseConfig):
        learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate."})

    add_config_command(train_app, "reward", RewardConfig, run_reward, help="Train a reward model.")

gives ``safealign train reward --config x.yaml --learning-rate 1e-5`` with ``--help`` listing every field.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, TypeVar

import yaml

from safealign.errors import ConfigError
from safealign.utils.text_file import read_text

T = TypeVar("T", bound="BaseConfig")


DRY_RUN_HELP = (
    "Validate the recipe instead of training: each model built from its family at tiny size with its real chat "
    "template, the start-up checks and one step (docs/models.md#dry-runs)."
)


def help_field(default: Any = MISSING, help: str = "", **kw: Any) -> Any:  # noqa: A002 - mirrors dataclasses API
    """``dataclasses.field`` with a help string (mutable defaults via ``default_factory``)."""
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata={"help": help}, **kw)
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


def _resolve_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(scalar type, is_optional) for ``X``, ``Optional[X]`` and ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _coerce(name: str, tp: Any, value: Any) -> Any:
    base, optional = _base_type(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"config field '{name}' may not be null")
    origin = typing.get_origin(base)
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("true", "yes", "1", "on"):
                return True
            if s in ("false", "no", "0", "off"):
                return False
            raise ValueError(value)
        if base in (int, float, str):
            if base is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return base(value)
        if origin in (list, tuple):
            (item_tp, *_) = typing.get_args(base) or (Any,)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
            items = [_coerce(name, item_tp, v) if item_tp is not Any else v for v in value]
            return list(items)
        if origin is dict or base is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
        if origin is typing.Literal:
            allowed = typing.get_args(base)
            if value not in allowed:
                raise ConfigError(f"config field '{name}' must be one of {list(allowed)}, got {value!r}")
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"config field '{name}' expects {getattr(base, '__name__', base)}, got {value!r}") from None
    return value


@dataclass
class BaseConfig:
    """Base of every trainer/command configuration."""

    config_file: ClassVar[Optional[str]] = None  # the YAML file it was read from (set by from_yaml), not a field

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
        hints = _resolve_hints(cls)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
        kwargs = {k: _coerce(k, hints[k], v) for k, v in data.items()}
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(read_text(path)) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of field: value at the top level")
        data.update(overrides or {})
        cfg = cls.from_dict(data, source=str(path))
        cfg.config_file = str(path)
        return cfg

    @classmethod
    def load(cls: type[T], path: str | Path | None = None, **overrides: Any) -> T:
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if path:
            return cls.from_yaml(path, overrides)
        return cls.from_dict(overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


def _option_type(tp: Any) -> Any:
    base, _ = _base_type(tp)
    origin = typing.get_origin(base)
    if origin in (list, tuple):
        return str  # comma-separated on the command line
    if origin is dict:
        return str
    if origin is typing.Literal:
        return str
    return base


def add_config_command(
    app: Any,
    name: str,
    cfg_cls: type[BaseConfig],
    runner: Callable[[BaseConfig], Any],
    help: str = "",  # noqa: A002
    extra_help: str = "",
) -> None:
    """Register ``name`` on a typer ``app`` with one ``--option`` per config field plus ``--config FILE``."""
    import typer

    hints = _resolve_hints(cfg_cls)
    params = [
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=typing.Annotated[
                Optional[str],
                typer.Option(
                    "--config", "-c", help="YAML file with field: value pairs; command-line options override it."
                ),
            ],
        )
    ]
    for f in fields(cfg_cls):
        opt_type = _option_type(hints[f.name])
        default = (
            f.default
            if f.default is not MISSING
            else (f.default_factory() if f.default_factory is not MISSING else None)
        )  # type: ignore[misc]
        shown = (
            default
            if not isinstance(default, (list, dict))
            else (",".join(map(str, default)) if isinstance(default, list) else default)
        )
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if opt_type is bool:
            decl = typer.Option(
                f"{flag}/--no-{f.name.replace('_', '-')}", help=f"{help_text} (default: {shown})", show_default=False
            )
        else:
            decl = typer.Option(flag, help=f"{help_text} (default: {shown})", show_default=False)
        params.append(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=typing.Annotated[Optional[opt_type], decl],
            )
        )

    def command(**kwargs: Any) -> Any:
        path = kwargs.pop("config", None)
        cfg = cfg_cls.load(path, **kwargs)
        return runner(cfg)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = name.replace("-", "_")
    command.__doc__ = (help or cfg_cls.__doc__ or "") + (("\n\n" + extra_help) if extra_help else "")
    app.command(name, help=command.__doc__)(command)

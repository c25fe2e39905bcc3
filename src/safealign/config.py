"""Configuration: dataclasses with help text per field, loadable from YAML, overridable from the command line; and
the one way a command is built from its config.

Precedence: dataclass defaults < YAML file (``--config``) < command-line options.

    @dataclass
    class RewardConfig(BaseConfig):
        learning_rate: float = help_field(2e-5, "Peak learning rate.")
        model: str = help_field("default", "Backbone.", flags=("--model", "-m"))
        data: str = help_field(help="Training pairs.", positional=True)           # no default: required
        unsafe_cost_threshold: float = help_field(0.0, "Cost above it: unsafe.", aliases=("threshold",))

    add_config_command(train_app, "reward", RewardConfig, run_reward, help="Train a reward model.")

gives ``safealign train reward DATA --config x.yaml --learning-rate 1e-5 -m default`` with ``--help`` listing every
field. What :func:`help_field` can say about a field's command-line form:

- ``flags``: the option's declarations, replacing the one made from the field name (``--learning-rate``; a bool
  gets ``--x/--no-x``): short names (``-m``), another spelling (``--json`` for ``as_json``), a bool flag without
  its ``--no-`` form;
- ``aliases``: old names of a renamed field: accepted as YAML keys and as ``--old-name`` options;
- ``positional``: a command-line argument instead of an option;
- ``min``: the smallest value the command line accepts (numbers).

A field without a default is required: from the command line or the YAML file, else a one-line error.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Sequence, TypeVar

import yaml

from safealign.errors import ConfigError
from safealign.utils.text_file import read_text

T = TypeVar("T", bound="BaseConfig")


DRY_RUN_HELP = (
    "Validate the recipe instead of training: each model built from its family at tiny size with its real chat "
    "template, the start-up checks and one step (docs/models.md#dry-runs)."
)



def help_field(
    default: Any = MISSING,
    help: str = "",  # noqa: A002 - mirrors dataclasses API
    *,
    flags: Sequence[str] = (),
    aliases: Sequence[str] = (),
    positional: bool = False,
    min: Optional[float] = None,  # noqa: A002
    **kw: Any,
) -> Any:
    """``dataclasses.field`` with a help string (mutable defaults via ``default_factory``) and the field's
    command-line form (module docstring). No ``default``: the field is required (a keyword argument of the
    dataclass, so it may follow fields with defaults)."""
    meta = {"help": help, "flags": tuple(flags), "aliases": tuple(aliases), "positional": positional, "min": min}
    if default is MISSING and "default_factory" not in kw:
        kw.setdefault("kw_only", True)
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta, **kw)
    return dataclasses.field(default=default, metadata=meta, **kw)


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
    def aliases(cls) -> dict[str, str]:
        """Old name -> field name, for the fields that were renamed (their ``aliases``)."""
        return {old: f.name for f in fields(cls) for old in f.metadata.get("aliases", ())}

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
        hints = _resolve_hints(cls)
        known = {f.name for f in fields(cls)}
        renamed = cls.aliases()
        data = dict(data)
        for old, new in renamed.items():
            if old in data:
                if new in data:
                    raise ConfigError(f"{source}: give '{new}' or its old name '{old}', not both")
                data[new] = data.pop(old)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
        missing = [_cli_name(f) for f in fields(cls) if f.name not in data and _required(f)]
        if missing:
            raise ConfigError(f"{source}: missing required field(s) {', '.join(missing)} for {cls.__name__}")
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
        return cls.from_dict(overrides, source="options")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


def _cli_name(f: dataclasses.Field) -> str:
    """How a user names the field: 'model' (--model), or 'source' (SOURCE) for an argument."""
    shown = f.name.upper() if f.metadata.get("positional") else "--" + f.name.replace("_", "-")
    return f"'{f.name}' ({shown})"


def _required(f: dataclasses.Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]


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


def _shown_default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        default = f.default
    elif f.default_factory is not MISSING:  # type: ignore[misc]
        default = f.default_factory()  # type: ignore[misc]
    else:
        return None
    return ",".join(map(str, default)) if isinstance(default, list) else default


def _literal(text: str) -> str:
    """Help text shown as written: typer renders help through rich, whose markup would swallow ``[harmful]``."""
    from rich.markup import escape

    return escape(text)


def _cli_parameter(f: dataclasses.Field, tp: Any) -> inspect.Parameter:
    """The typer parameter of one config field. Every option defaults to None (not given), so that a value from the
    YAML file, or else the dataclass default, stands; the help text shows the dataclass default."""
    import typer

    meta = f.metadata
    opt_type = _option_type(tp)
    required = _required(f)
    help_text = _literal(meta.get("help", ""))
    help_text += " (required)" if required else f" (default: {_shown_default(f)})"
    bounds = {"min": meta["min"]} if meta.get("min") is not None else {}
    if meta.get("positional"):
        decl = typer.Argument(help=help_text, show_default=False, **bounds)
    else:
        flag = f.name.replace("_", "-")
        names = list(meta.get("flags") or [f"--{flag}/--no-{flag}" if opt_type is bool else f"--{flag}"])
        names += [f"--{old.replace('_', '-')}" for old in meta.get("aliases", ())]
        decl = typer.Option(*names, help=help_text, show_default=False, **bounds)
    return inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=typing.Annotated[Optional[opt_type], decl]
    )


def add_config_command(
    app: Any,
    name: str,
    cfg_cls: type[BaseConfig],
    runner: Callable[[Any], Any],
    help: str = "",  # noqa: A002
    extra_help: str = "",
) -> None:
    """Register ``name`` on a typer ``app``: one parameter per field of ``cfg_cls`` (options, and arguments for
    ``positional`` fields) plus ``--config FILE``; the command loads the config (defaults < YAML < command line) and
    calls ``runner(cfg)``. Every command of ``safealign`` is built this way."""
    import typer

    hints = _resolve_hints(cfg_cls)
    config_option = typer.Option(
        "--config", "-c", help="YAML file with field: value pairs; command-line options override it."
    )
    params = [
        inspect.Parameter(
            "config", inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=typing.Annotated[Optional[str], config_option],
        )
    ]
    params += [_cli_parameter(f, hints[f.name]) for f in fields(cfg_cls)]

    def command(**kwargs: Any) -> Any:
        path = kwargs.pop("config", None)
        cfg = cfg_cls.load(path, **kwargs)
        return runner(cfg)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = name.replace("-", "_")
    text = help or "\n\n".join(" ".join(part.split()) for part in inspect.cleandoc(cfg_cls.__doc__ or "").split("\n\n"))
    command.__doc__ = _literal(text + (("\n\n" + extra_help) if extra_help else ""))
    app.command(name, help=command.__doc__)(command)

"""Reading a user's YAML file: a missing file or a syntax error is one ConfigError line naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from safealign.errors import ConfigError
from safealign.utils.text_file import read_text


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """The parsed content of ``path`` (None for an empty file); ``what`` names the file in the not-found error."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} not found: {p}")
    try:
        return yaml.safe_load(read_text(p))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None

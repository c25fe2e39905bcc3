"""CLI commands of this area (registered by safealign.cli.build_app)."""

from __future__ import annotations


def register(apps) -> None:  # noqa: ANN001
    pass

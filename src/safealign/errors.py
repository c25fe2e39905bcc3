"""Errors a user can cause. The CLI prints them as one line (no traceback) and exits non-zero."""

from __future__ import annotations


class SafealignError(Exception):
    """Base class for user-facing errors: bad input, bad config, missing model."""


class ConfigError(SafealignError):
    pass


class ModelNotFoundError(SafealignError):
    pass


class DataError(SafealignError):
    """A problem with one row of a user's data file, located by file, row and field."""

    def __init__(self, message: str, file: str | None = None, row: int | None = None, field: str | None = None):
        self.file, self.row, self.field, self.reason = file, row, field, message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__((": ".join([", ".join(where), message])) if where else message)

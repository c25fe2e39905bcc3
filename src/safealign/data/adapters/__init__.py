"""One adapter per public schema; each turns raw rows into typed records (see safealign.data.io).

:class:`RowContext` (where a row comes from, for one-line errors) is what callers pass to an adapter's ``decode``;
the other helpers of ``_common`` are the adapters' own."""

from safealign.data.adapters._common import RowContext

__all__ = ["RowContext"]

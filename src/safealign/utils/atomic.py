"""Atomic writes: a crash never leaves a half-written file or folder where a complete one is expected."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide, toggling it later would race with threads


def _umask() -> int:
    return _UMASK


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Yield a file open on a temporary sibling (``mode`` "w" for text, "wb" for bytes); on success it is flushed to
    disk and renamed into place with the usual permissions (0666 & ~umask). An interrupted block leaves ``path`` as
    it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a report or dataset should be readable like any file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to a temporary sibling and rename it into place."""
    with atomic_file(path) as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary sibling, renamed into place."""
    import torch

    with atomic_file(path, "wb") as f:
        torch.save(obj, f)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` in one rename.

    An interrupted block leaves only a ``.tmp-*`` folder that loaders never look at.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".tmp-{path.name}-"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(finished: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put the complete folder ``finished`` at ``path``: an existing folder is renamed aside first and removed after,
    so ``path`` is always either the old complete folder or the new one."""
    finished, path = Path(finished), Path(path)
    if path.exists():
        old = path.with_name(f".old-{path.name}-{os.getpid()}")
        os.replace(path, old)
        os.replace(finished, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(finished, path)

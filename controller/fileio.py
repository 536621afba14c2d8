"""Files written whole or not at all, and directories made durable: the one atomic-file helper.

Every file Kunci writes in one piece (the web's port file, backups and key files, restored files, TLS
files, the default configuration, archives, installed unit files) goes through :func:`atomic_write` or
:func:`atomic_writer`:

1. a temporary file is created in the *same directory* (``.NAME.XXXX.tmp``, so the rename below never
   crosses a file system) with the final mode already set (``fchmod``, not subject to the umask);
2. the content is written and ``fsync``'d;
3. the temporary file is renamed over ``path`` (``os.replace``), or, with ``replace=False``, hard-linked
   to ``path``, which fails with :class:`FileExistsError` if ``path`` appeared meanwhile (never overwrite);
4. the directory is ``fsync``'d (:func:`fsync_dir`), so the new name survives a power cut.

A reader therefore sees the old file or the new one, never a part of either; after a crash ``path`` holds
one of them. If anything fails before step 3 the temporary file is removed and ``path`` is untouched.

This module sits at the top of ``controller`` beside ``errors``, ``paths`` and ``timefmt`` and imports
nothing from Kunci, so every layer may use it. Drivers never import ``controller`` and keep their own.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

__all__ = ["atomic_write", "atomic_writer", "fsync_dir"]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """``fsync`` the directory ``path``, so that names created, renamed or removed in it are durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int = 0o600, replace: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file; when the ``with`` block ends normally its content becomes ``path`` atomically.

    :param path: the final file; its directory must exist.
    :param mode: permission bits of the new file (default 0600), set before any byte is written.
    :param replace: ``True`` (default) replaces an existing ``path``; ``False`` refuses it with
        :class:`FileExistsError` (checked again at the last step, so a file created meanwhile is kept).
    :raises OSError: on any write error; ``path`` is then unchanged and no temporary file is left.

    An exception raised inside the block discards everything written and leaves ``path`` unchanged.
    """
    target = Path(path)
    if not replace and target.exists():
        raise FileExistsError(f"{target} already exists")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # FileExistsError if someone created it meanwhile
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o600, replace: bool = True
) -> None:
    """Write ``data`` (``str`` is written as UTF-8) to ``path`` atomically; see :func:`atomic_writer`.

    :param mode: permission bits of the new file (default 0600).
    :param replace: ``False`` refuses an existing ``path`` with :class:`FileExistsError`.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path, mode=mode, replace=replace) as fh:
        fh.write(payload)

"""Atomic file writes: a temporary file in the destination directory, then :func:`os.replace`.

A reader never sees a half-written file: the data go to a hidden temporary name in the same
directory (``.{name}.{random}.tmp``, so the rename never crosses file systems), are flushed
to disk, and :func:`os.replace` then swaps the complete file in under the final name,
replacing any file of that name in one step. If anything fails before the rename the
temporary file is removed and the previous file, if any, is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import netCDF4

__all__ = ["atomic_dataset", "atomic_path", "fsync_directory"]


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block succeeds.

    The caller creates the file at the yielded path (which does not exist yet). On normal
    exit the file is flushed to disk and renamed to ``path``; on any exception it is deleted
    (if it was created) and the exception propagates. Missing parent directories of ``path``
    are created.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.

    Yields
    ------
    pathlib.Path
        Temporary path in the same directory, named ``.{name}.{random hex}.tmp`` (writers
        that infer a format from the suffix must be told the format explicitly).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(path.parent)


@contextlib.contextmanager
def atomic_dataset(path: str | os.PathLike[str]) -> Iterator[netCDF4.Dataset]:
    """Yield a new NetCDF4 dataset that replaces ``path`` only if the block succeeds.

    The dataset is closed when the block ends (normally or not); see :func:`atomic_path`.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.

    Yields
    ------
    netCDF4.Dataset
        Open for writing, format ``NETCDF4``.
    """
    with atomic_path(path) as tmp:
        ds = netCDF4.Dataset(tmp, "w", clobber=False, format="NETCDF4")
        try:
            yield ds
        finally:
            ds.close()

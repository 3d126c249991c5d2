"""Atomic file writes: a temporary file in the destination directory, then :func:`os.replace`.

A reader never sees a half-written file: the data go to a hidden temporary name in the same
directory (``.{name}.{random}.tmp``, so the rename never crosses file systems), are flushed
to disk, and :func:`os.replace` then swaps the complete file in under the final name,
replacing any file of that name in one step. If anything fails before the rename the
temporary file is removed and the previous file, if any, is left untouched.

A full disk (or an exceeded quota) is reported as such, naming the folder
(:class:`NoSpaceError`, "no space left on device in FOLDER"), whatever the writer made of
it: the NetCDF library reports a file it could not create on a full disk as "Permission
denied" (netCDF-C turns any failure of HDF5's file creation into ``EACCES``) and one it
could not finish as "NetCDF: HDF error", so a failed write is checked against the folder's
free space (and a small probe write, which sees a quota) before its error is passed on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import netCDF4

from varnet.errors import VarnetError

__all__ = [
    "NO_SPACE_ERRNOS",
    "NoSpaceError",
    "atomic_dataset",
    "atomic_path",
    "fsync_directory",
    "no_space_error",
]

#: errno values of a full file system or an exceeded disk quota.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: Below this many free bytes, a failed write is taken for a full disk.
_LOW_SPACE_BYTES = 1 << 20
_PROBE_BYTES = 1 << 16


class NoSpaceError(VarnetError, OSError):
    """No space left on the device (or quota exceeded) where a file was being written.

    An :class:`OSError` (``errno`` ENOSPC or EDQUOT), so that code handling a failed write
    still handles it, and a :class:`~varnet.errors.VarnetError`, printed as one line:
    ``no space left on device in /srv/ops/archive (writing X): 12.0 kB free``.

    Attributes
    ----------
    folder : pathlib.Path
        The folder that could not be written.
    free_bytes : int or None
        Bytes available to this user there when the error was seen (None if unknown).
    """

    def __init__(self, folder: str | os.PathLike[str], doing: str = "", *,
                 err: int = errno.ENOSPC) -> None:
        self.folder = Path(folder)
        self.free_bytes = _free_bytes(self.folder)
        what = " (disk quota exceeded)" if err == errno.EDQUOT else ""
        doing = f" ({doing})" if doing else ""
        free = ("" if self.free_bytes is None or err == errno.EDQUOT
                else f": {_human(self.free_bytes)} free")
        self.message = f"no space left on device{what} in {self.folder}{doing}{free}"
        super().__init__(err, self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable (a worker process's error reaches its parent)
        return (_rebuild_no_space, (type(self), self.errno, self.message, str(self.folder),
                                    self.free_bytes))


def _rebuild_no_space(cls: type, err: int, message: str, folder: str,
                      free: int | None) -> NoSpaceError:
    exc = cls.__new__(cls, err, message)
    OSError.__init__(exc, err, message)
    exc.folder, exc.message, exc.free_bytes = Path(folder), message, free
    return exc


def _free_bytes(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            st = os.statvfs(candidate)
            return st.f_bavail * st.f_frsize
    return None


def _human(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _space_errno(folder: Path) -> int | None:
    """ENOSPC or EDQUOT if ``folder``'s file system is full for this user, else None.

    Free space (and inodes) from :func:`os.statvfs`; then a small write to a hidden probe
    file, removed at once, which sees a quota that ``statvfs`` does not show.
    """
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize < _LOW_SPACE_BYTES or (st.f_files and not st.f_favail):
        return errno.ENOSPC
    probe = folder / f".varnet-space-probe.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.errno if exc.errno in NO_SPACE_ERRNOS else None
    try:
        os.write(fd, bytes(_PROBE_BYTES))
        os.fsync(fd)
    except OSError as exc:
        return exc.errno if exc.errno in NO_SPACE_ERRNOS else None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def no_space_error(exc: BaseException, folder: str | os.PathLike[str],
                   doing: str = "") -> NoSpaceError | None:
    """The :class:`NoSpaceError` that ``exc``, raised writing into ``folder``, stands for.

    An :class:`OSError` of errno ENOSPC or EDQUOT is one; so is a "Permission denied"
    (``EACCES``, ``EPERM``), an ``EIO`` or a :class:`RuntimeError` (NetCDF's "HDF error")
    where the folder turns out to be full (:func:`_space_errno`). None otherwise, and for
    an ``exc`` that already is a :class:`NoSpaceError`.
    """
    if isinstance(exc, NoSpaceError):
        return None
    folder = Path(folder)
    if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
        return NoSpaceError(folder, doing, err=exc.errno)
    denied = isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EIO)
    maybe = denied or type(exc) is RuntimeError
    if maybe and (err := _space_errno(folder)) is not None:
        return NoSpaceError(folder, doing, err=err)
    return None


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

    Raises
    ------
    NoSpaceError
        If the write failed for want of space (or quota) in the folder, whatever error the
        writer raised (:func:`no_space_error`); the temporary file is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        full = no_space_error(exc, _existing_parent(path.parent), f"creating {path.parent}")
        if full is not None:
            raise full from exc
        raise
    tmp = _temporary_name(path)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        # judged before the temporary file is removed: it holds the space that is missing
        full = no_space_error(exc, path.parent, f"writing {path.name}") if isinstance(
            exc, OSError | RuntimeError) else None
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if full is not None:
            raise full from exc
        raise
    fsync_directory(path.parent)


def _existing_parent(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), path)


@contextlib.contextmanager
def atomic_dataset(path: str | os.PathLike[str]) -> Iterator[netCDF4.Dataset]:
    """Yield a new NetCDF4 dataset that replaces ``path`` only if the block succeeds.

    The dataset is closed when the block ends (normally or not); see :func:`atomic_path`
    (a full disk is a :class:`NoSpaceError`, never the library's "Permission denied").

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

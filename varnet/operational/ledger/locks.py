"""Single-instance locks: one daemon per state folder.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from varnet.operational.ledger.errors import LockHeldError
from varnet.operational.ledger.processes import hostname
from varnet.operational.ledger.times import utc_now

__all__ = ["InstanceLock", "daemon_lock"]


class InstanceLock:
    """An exclusive lock on a file (``fcntl.flock``), e.g. one daemon per state folder.

    The lock belongs to the open file, so it vanishes when the holder exits, even killed; the
    file itself stays (deleting lock files invites races) and records the holder's pid, host
    and start time for the error message of the next contender.

    Parameters
    ----------
    path : str or os.PathLike
        The lock file; its folder is created if missing.
    purpose : str, optional
        What the lock protects, for messages ("varnet-ops daemon").
    """

    def __init__(self, path: str | os.PathLike[str], purpose: str = "varnet-ops daemon") -> None:
        self.path = Path(path)
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, timeout_s: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout_s`` seconds for its holder to let go.

        Raises
        ------
        LockHeldError
            If another process (or another lock object) still holds it; the message names
            the lock file and the holder's pid.
        """
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    pid = holder.get("pid") if isinstance(holder.get("pid"), int) else None
                    who = (f"pid {pid} on {holder.get('host', '?')}, since "
                           f"{holder.get('since', '?')}") if pid else "an unknown process"
                    raise LockHeldError(
                        self.path, pid,
                        f"{self.path}: another {self.purpose} is running ({who}); stop it "
                        "first, or use another state folder") from None
                time.sleep(0.05)
        info = {"pid": os.getpid(), "host": hostname(), "since": utc_now(),
                "purpose": self.purpose}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        with contextlib.suppress(OSError):
            os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (nothing happens if it is not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its holder (empty if nothing readable)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return {}
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def daemon_lock(state_dir: str | os.PathLike[str]) -> InstanceLock:
    """The daemon's single-instance lock, ``{state_dir}/daemon.lock`` (not yet acquired).

    Examples
    --------
    >>> with daemon_lock(config.paths.state):  # doctest: +SKIP
    ...     run_daemon(config)
    """
    return InstanceLock(Path(state_dir) / "daemon.lock", "varnet-ops daemon")

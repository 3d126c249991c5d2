"""This host and its processes: the host name, a process's start time, whether it lives.

A claim or a run records the pid and start time of its process, so that a later process of
the same host can tell a dead owner from a live one even when the pid was reused.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import errno
import os
import socket

__all__ = ["hostname", "pid_alive", "process_start"]


def hostname() -> str:
    """This host's name, as claims and runs record it."""
    return socket.gethostname()


def _process_stat(pid: int) -> list[str]:
    """Fields of ``/proc/{pid}/stat`` after the command name (state first), [] where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return []
    return text.rpartition(")")[2].split()


def process_start(pid: int, fields: list[str] | None = None) -> str | None:
    """Start time of process ``pid``, None where unknown.

    Parameters
    ----------
    pid : int
        Process id.
    fields : list of str, optional
        Its ``/proc/{pid}/stat`` fields after the command name, if already read.

    Returns
    -------
    str or None
        Clock ticks since boot (Linux ``/proc``), as text; None elsewhere.
    """
    fields = _process_stat(pid) if fields is None else fields
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (and is the one that started at ``start``).

    Parameters
    ----------
    pid : int
        Process id.
    start : str, optional
        Start time recorded for it (:func:`process_start`); a different start time means
        the id was reused by another process, so the recorded process is dead.

    Returns
    -------
    bool
        False if no such process exists, it is a zombie, or its start time differs.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError as exc:
        return exc.errno != errno.ESRCH
    fields = _process_stat(pid)
    if fields[:1] in (["Z"], ["X"]):
        return False
    if start is not None:
        now = process_start(pid, fields)
        if now is not None and now != start:
            return False
    return True

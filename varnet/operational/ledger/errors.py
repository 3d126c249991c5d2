"""The ledger's errors, and the command that rebuilds a lost or damaged ledger.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

from pathlib import Path

from varnet.errors import CONFIG_PLACEHOLDER, EXIT_LEDGER, EXIT_LOCKED, VarnetError

__all__ = ["REBUILD_HINT", "LedgerError", "LockHeldError"]

#: What to run when the ledger is lost or damaged.
REBUILD_HINT = ("rebuild it from the archive and the products: varnet-ops ledger rebuild "
                f"--config {CONFIG_PLACEHOLDER}")


class LedgerError(VarnetError, RuntimeError):
    """The ledger cannot be opened, or a call breaks its rules (e.g. no claim held)."""

    exit_code = EXIT_LEDGER
    what = "ledger"


class LockHeldError(VarnetError, RuntimeError):
    """Another process holds a single-instance lock.

    Attributes
    ----------
    lock_path : pathlib.Path
        The lock file.
    holder_pid : int or None
        Process id of the holder, as it recorded it (None if unreadable).
    """

    exit_code = EXIT_LOCKED

    def __init__(self, lock_path: Path, holder_pid: int | None, message: str) -> None:
        self.lock_path = lock_path
        self.holder_pid = holder_pid
        super().__init__(message)

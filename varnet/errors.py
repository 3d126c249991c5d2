"""The one error hierarchy: every error a person can act on is a :class:`VarnetError`.

Command-line tools catch :class:`VarnetError` only, print its one-line message after the
class's :attr:`~VarnetError.what` and exit with its :attr:`~VarnetError.exit_code`; any other
exception is a programming error and keeps its traceback.

Exit codes of the command-line tools (``varnet-ops``, ``varnet-train``, ``varnet-export``):

====  ========================================================================================
0     success: every day asked for was made (or was already up to date)
1     some day asked for was not made (failed, or held by another process), or ``varnet-ops
      status`` found days missing, stale or made without observations
2     bad configuration, arguments, model or input (:class:`ConfigError`, :class:`ModelMismatch`,
      ...): nothing was done
3     another process holds a lock this one needs (``LockHeldError``)
4     the ledger cannot be trusted (``LedgerError``): damaged, not a varnet ledger, empty
====  ========================================================================================
"""

from __future__ import annotations

__all__ = [
    "CONFIG_PLACEHOLDER",
    "EXIT_ATTENTION",
    "EXIT_CONFIG",
    "EXIT_LEDGER",
    "EXIT_LOCKED",
    "EXIT_OK",
    "VarnetError",
]

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3
EXIT_LEDGER = 4

#: How a message names the configuration file when it does not know it (``--config
#: OPS.toml``); the command-line tools put the file they were given in its place.
CONFIG_PLACEHOLDER = "OPS.toml"


class VarnetError(Exception):
    """Base of the errors a person acts on; its message says what and where, on one line.

    Attributes
    ----------
    exit_code : int
        The exit status of a command-line tool that stops on it (module docstring).
    what : str
        Words printed before the message (``"error: {what}: {message}"``); empty for none.
    """

    exit_code: int = EXIT_ATTENTION
    what: str = ""

    def one_line(self) -> str:
        """``"error: {what}: {message}"`` with line breaks folded, for a terminal or a log."""
        message = " ".join(str(self).split())
        return f"error: {self.what}: {message}" if self.what else f"error: {message}"

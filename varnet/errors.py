"""The one error hierarchy: every error a person can act on is a :class:`VarnetError`.

Command-line tools catch :class:`VarnetError` only (:mod:`varnet.cli_errors`, the one handler
of all four), print its one-line message after the class's :attr:`~VarnetError.what` on the
standard error and exit with its :attr:`~VarnetError.exit_code`; any other exception is a
programming error and keeps its traceback. An error is raised where the problem is found, as
the subclass that says what it is (:class:`varnet.config.ConfigError`,
:class:`varnet.runtime.metadata.ModelMismatch`, :class:`varnet.io.readers.InputFileError`,
:class:`varnet.training.checkpoint.CheckpointError`, ...; :class:`InputError` for an argument,
file or value with no more specific class); a tool never catches a broad built-in exception to
turn it into a message.

Exit codes of the command-line tools:

====  ========================================================================================
0     success: everything asked for was made (or was already up to date)
1     the command ran but something asked for was not made: ``varnet-ops``: a day failed or
      was held by another process, or ``varnet-ops status`` found days missing, stale or made
      without observations; ``varnet-train``: the training diverged
      (``TrainingDiverged``); ``varnet-export``: the model cannot be exported as standard
      ONNX (``ExportError``) or the export failed its parity check against PyTorch
      (``VerificationFailed``), nothing written
2     bad configuration, arguments, model or input (:class:`ConfigError`, ``ModelMismatch``,
      ``InputFileError``, ``CheckpointError``, :class:`InputError`, :class:`MissingPathError`,
      ...): nothing was done. click's own usage errors (an unknown option, a missing file
      given to an option that must exist) exit 2 too
3     ``varnet-ops``: another process holds a lock this one needs (``LockHeldError``)
4     ``varnet-ops``: the ledger cannot be trusted (``LedgerError``): damaged, not a varnet
      ledger, empty
====  ========================================================================================

By tool: ``varnet-osse`` exits 0 or 2; ``varnet-train`` 0, 1 or 2; ``varnet-export`` 0, 1
or 2; ``varnet-ops`` any of 0 to 4. An unexpected exception (a bug) exits 1 with its
traceback.
"""

from __future__ import annotations

__all__ = [
    "CONFIG_PLACEHOLDER",
    "EXIT_ATTENTION",
    "EXIT_CONFIG",
    "EXIT_LEDGER",
    "EXIT_LOCKED",
    "EXIT_OK",
    "InputError",
    "MissingPathError",
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


class InputError(VarnetError, ValueError):
    """An argument, file, folder or value a person gave cannot be used: nothing was done.

    The base of the bad-input errors that have no more specific class (the message names the
    option, file or value and says what to do); also a :class:`ValueError`, for code that
    catches that.
    """

    exit_code = EXIT_CONFIG


class MissingPathError(InputError, FileNotFoundError):
    """A file or folder a command needs does not exist; the message names it.

    Also a :class:`FileNotFoundError`, for code that catches that.
    """

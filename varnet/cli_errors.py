"""The one error handler of the command-line tools (``varnet-osse``, ``varnet-train``,
``varnet-export``, ``varnet-ops``).

Each tool's top-level click command is a :class:`VarnetCommand` or a :class:`VarnetGroup`.
Its :meth:`~VarnetCommand.main` catches :class:`~varnet.errors.VarnetError` only: it prints
the error's :meth:`~varnet.errors.VarnetError.one_line` on the standard error and exits with
the error's :attr:`~varnet.errors.VarnetError.exit_code` (the table of :mod:`varnet.errors`).
Any other exception is a programming error and propagates with its traceback. With
``standalone_mode=False`` (click's "the caller handles errors") a
:class:`~varnet.errors.VarnetError` propagates too, as click's own exceptions do.

A tool may pass ``rewrite``, a function applied to the line before it is printed
(``varnet-ops`` puts the configuration file it was given in place of
:data:`~varnet.errors.CONFIG_PLACEHOLDER`).

No torch here, nor anything above :mod:`varnet.errors`: every tool imports this module.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

from varnet.errors import VarnetError

__all__ = ["Rewrite", "VarnetCommand", "VarnetGroup", "exit_on"]

log = logging.getLogger("varnet.cli")

#: A function of the printed line to the line printed instead.
Rewrite = Callable[[str], str]


def exit_on(error: VarnetError, rewrite: Rewrite | None = None) -> NoReturn:
    """Print ``error``'s one line on the standard error and exit with its exit code.

    Parameters
    ----------
    error : VarnetError
        The error that stopped the command.
    rewrite : callable, optional
        Applied to the line before it is printed.

    Raises
    ------
    SystemExit
        Always, with ``error.exit_code``.
    """
    log.debug("stopped on", exc_info=error)
    line = error.one_line()
    if rewrite is not None:
        line = rewrite(line)
    click.echo(line, err=True)
    sys.exit(error.exit_code)


def _stopping_on_varnet_errors(run: Callable[[], Any], standalone_mode: bool,
                               rewrite: Rewrite | None) -> Any:
    """``run()`` (click's ``main``), stopping on a :class:`VarnetError` in one line and its exit
    code in standalone mode; in click's non-standalone mode the error propagates."""
    try:
        return run()
    except VarnetError as error:
        if not standalone_mode:
            raise
        exit_on(error, rewrite)


class _StopsOnVarnetErrors:
    """The :meth:`main` of :class:`VarnetCommand` and :class:`VarnetGroup` (mixed in before
    their click class)."""

    def __init__(self, *args: Any, rewrite: Rewrite | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rewrite = rewrite

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        """click's ``main``, stopping on a :class:`VarnetError` in one line and its exit code
        (in standalone mode; otherwise it propagates)."""
        run = functools.partial(super().main, args, prog_name, complete_var,  # type: ignore[misc]
                                standalone_mode, windows_expand_args, **extra)
        return _stopping_on_varnet_errors(run, standalone_mode, self.rewrite)


class VarnetCommand(_StopsOnVarnetErrors, click.Command):
    """A click command that ends on a :class:`~varnet.errors.VarnetError` in one line and
    its exit code; any other exception keeps its traceback.

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`click.Command`.
    rewrite : callable, optional
        Applied to the error line before it is printed.
    """


class VarnetGroup(_StopsOnVarnetErrors, click.Group):
    """A click group whose commands end on a :class:`~varnet.errors.VarnetError` in one line
    and its exit code; any other exception keeps its traceback.

    Only the top-level group's :meth:`main` runs, and it covers every sub-command (nested
    groups may stay plain :class:`click.Group`).

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`click.Group`.
    rewrite : callable, optional
        Applied to the error line before it is printed.
    """

"""varnet-ops: daily SSH and surface-current products from incoming observation files.

\b
    varnet-ops init      --config ops.toml            create the configured folders
    varnet-ops ingest    --config ops.toml            file the inbox into the archive
    varnet-ops run       --config ops.toml [--day D]  one near-real-time run (ingest + products)
    varnet-ops reprocess --config ops.toml --start D --end D [--workers N] [--dask ADDRESS]
    varnet-ops daemon    --config ops.toml            the daily run on the cron schedule
    varnet-ops daemon    --config ops.toml --simulate-from D --feed DIR   shown on past data
    varnet-ops status    --config ops.toml            last run, products, what is missing
    varnet-ops ledger rebuild --config ops.toml       the ledger again, from archive and products
    varnet-ops score     --config ops.toml --truth truth.nc --start D --end D
    varnet-ops drift     --config ops.toml --truth truth.nc --start D [--days 5]

\b
Exit status:
    0  success
    1  some day asked for was not made (the others were), or status found days missing
    2  bad configuration, arguments, model or input: nothing was done
    3  another process holds the lock
    4  the ledger cannot be trusted (damaged, not a varnet ledger, empty)
Errors are one line; an unexpected error (a bug) shows its traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from varnet.cli_errors import VarnetGroup
from varnet.errors import CONFIG_PLACEHOLDER, EXIT_ATTENTION, EXIT_OK, InputError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("varnet.ops")


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%Y-%m-%dT%H:%M:%SZ")
    logging.Formatter.converter = __import__("time").gmtime
    # the daemon logs its own runs, its next run, and in its own words the runs that did not
    # start (varnet.operational.daemon.log_scheduler_event); APScheduler's errors still show
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


#: The configuration files loaded by this command (for the hints of its errors).
_LOADED: list[Path] = []


def _load(config_path: Path, *, folders: bool = True):
    """The configuration; with ``folders``, its folders checked (created only where
    ``paths.create_missing``): a missing one stops the command with its key named."""
    from varnet.config import ConfigError
    from varnet.operational.config import load_ops_config, require_folders

    _LOADED.append(config_path)
    try:
        config = load_ops_config(config_path)
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {config_path}: "
                          f"{exc.strerror or exc}") from None
    if folders:
        require_folders(config, config_path=config_path)
    return config


def _producer(config):
    from varnet.operational.pipeline import Producer

    return Producer(config)


_CONFIG = click.option("--config", "config_path", required=True,
                       type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="Operations configuration (TOML).")
_QUIET = click.option("--quiet", is_flag=True, help="Warnings and errors only.")
_DAY = click.DateTime(formats=["%Y-%m-%d"])


def _name_the_config(line: str) -> str:
    """An error line whose hints name the configuration file actually used (the last one
    loaded) in place of :data:`~varnet.errors.CONFIG_PLACEHOLDER`."""
    if not _LOADED:
        return line
    return line.replace(f"--config {CONFIG_PLACEHOLDER}",
                        f"--config {shlex.quote(str(_LOADED[-1]))}")


@click.group(cls=VarnetGroup, rewrite=_name_the_config, help=__doc__)
def main() -> None:
    """Entry point of ``varnet-ops``."""


@main.command("ingest")
@_CONFIG
@_QUIET
def ingest_command(config_path: Path, quiet: bool) -> None:
    """Validate the inbox's files, archive the good ones, quarantine the bad ones."""
    from varnet.operational.ingest import ingest
    from varnet.operational.ledger import Ledger

    _setup_logging(quiet)
    config = _load(config_path)
    report = ingest(config, Ledger.for_config(config), progress=not quiet)
    click.echo(report.summary())


@main.command("run")
@_CONFIG
@click.option("--day", type=_DAY, help="Production day (default: today, UTC).")
@_QUIET
def run_command(config_path: Path, day: dt.datetime | None, quiet: bool) -> None:
    """One near-real-time run: ingest, then make or re-make the due products."""
    from varnet.operational.runs import daily_run
    from varnet.operational.status import write_status

    _setup_logging(quiet)
    config = _load(config_path)
    producer = _producer(config)
    summary = daily_run(config, day.date() if day else None, producer=producer)
    write_status(config, producer.ledger, summary.production_day)
    click.echo(summary.line())
    sys.exit(EXIT_ATTENTION if summary.unmade else EXIT_OK)


@main.command("reprocess")
@_CONFIG
@click.option("--start", type=_DAY, required=True, help="First product day.")
@click.option("--end", type=_DAY, required=True, help="Last product day.")
@click.option("--force", is_flag=True, help="Re-make days that are already final.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Processes (or local Dask workers with --dask local); default "
                   "production.workers of the configuration.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Dask scheduler address (tcp://host:8786), or 'local'. Workers need the "
                   "archive, the model and the products folder at the same paths (shared "
                   "storage), never the state folder: only this process opens the ledger.")
@click.option("--production-day", type=_DAY, help="Issue date (default: today, UTC).")
@_QUIET
def reprocess_command(config_path: Path, start: dt.datetime, end: dt.datetime, force: bool,
                      workers: int | None, dask_address: str | None,
                      production_day: dt.datetime | None, quiet: bool) -> None:
    """Make the final products of a date range (resumable, parallel)."""
    from varnet.operational.runs import reprocess

    _setup_logging(quiet)
    config = _load(config_path)
    producer = _producer(config)  # refuses a model that does not fit before any work
    summary = reprocess(config, start.date(), end.date(), force=force,
                        workers=workers or config.production.workers, dask=dask_address,
                        production_day=production_day.date() if production_day else None,
                        progress=not quiet, producer=producer)
    click.echo(summary.line())
    sys.exit(EXIT_ATTENTION if summary.unmade else EXIT_OK)


@main.command("daemon")
@_CONFIG
@click.option("--simulate-from", type=_DAY, metavar="DATE",
              help="Show the daemon on past data: run simulated production days from DATE, "
                   "one every --day-seconds, instead of today's on the schedule.")
@click.option("--simulate-days", type=click.IntRange(min=1), default=7, show_default=True,
              help="With --simulate-from: production days to run, then stop.")
@click.option("--day-seconds", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="With --simulate-from: seconds per simulated day.")
@click.option("--feed", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --simulate-from: folder of observation files delivered to the inbox "
                   "as they would have arrived (e.g. demo-output/osse).")
@_QUIET
def daemon_command(config_path: Path, simulate_from: dt.datetime | None, simulate_days: int,
                   day_seconds: float, feed: Path | None, quiet: bool) -> None:
    """Run every day on the configured schedule; catch up missed days on start."""
    from varnet.operational.daemon import Simulation, run_daemon

    _setup_logging(quiet)
    context = click.get_current_context()
    simulation_only = [f"--{name.replace('_', '-')}" for name in ("simulate_days", "day_seconds",
                                                                  "feed")
                       if context.get_parameter_source(name).name != "DEFAULT"]
    if simulate_from is None and simulation_only:
        raise InputError(f"{', '.join(simulation_only)} only make sense with --simulate-from")
    config = _load(config_path)
    simulation = (Simulation(simulate_from.date(), simulate_days, day_seconds, feed)
                  if simulate_from is not None else None)
    run_daemon(config, simulation=simulation)


@main.command("status")
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--day", type=_DAY, help="Report as of this production day (default today).")
def status_command(config_path: Path, as_json: bool, day: dt.datetime | None) -> None:
    """Last run, the products of the re-issue window, and what is missing and why.

    Exits with status 1 when a day of the re-issue window is missing (never made, failed or
    interrupted), stale (its final product was made before an input of its window arrived
    or was replaced) or flagged (its file is gone, a later issue or a re-make failed, or its
    maker flagged it), 0 when every day is fine; 4 when the ledger cannot be trusted.
    """
    from varnet.operational.ledger import Ledger
    from varnet.operational.status import exit_code, status_lines, status_report

    config = _load(config_path)
    report = status_report(config, Ledger.for_config(config), day.date() if day else None)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo("\n".join(status_lines(report)))
    sys.exit(exit_code(report))


@main.command("score")
@_CONFIG
@click.option("--truth", "truth_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The synthetic ocean's truth.nc.")
@click.option("--start", type=_DAY, required=True, help="First product day.")
@click.option("--end", type=_DAY, required=True, help="Last product day.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A varnet-train evaluate scores.csv to print beside (e.g. the model's); "
                   "beside the offshore table, its scores_offshore_<band>km.csv where there "
                   "is one.")
@click.option("--coastal-band-km", type=click.FloatRange(min=0), default=20.0,
              show_default=True,
              help="Where the region has land, also the table over the sea farther than this "
                   "from land; 0: not that table.")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the table as CSV (the offshore one beside it, named "
                   "<name>_offshore_<band>km.csv).")
def score_command(config_path: Path, truth_path: Path, start: dt.datetime, end: dt.datetime,
                  reference: Path | None, coastal_band_km: float, out_csv: Path | None) -> None:
    """The paper's score table of the products against a synthetic ocean's truth."""
    from varnet.operational.scoring import score_products
    from varnet.scores import table_markdown

    config = _load(config_path)
    scored = score_products(config.paths.products, config.name, truth_path, start.date(),
                            end.date(), coastal_band_km=coastal_band_km)
    click.echo(f"products {start.date()} to {end.date()} against {truth_path}\n")
    for result in scored:
        suffix = result.sea.suffix
        table = result.table
        if reference is not None:
            table = _with_reference(table, _sibling(reference, suffix))
        if result.sea.coverage:
            click.echo(f"{result.sea.coverage}\n")
        click.echo(table_markdown(table))
        if out_csv is not None:
            table.to_csv(_sibling(out_csv, suffix), float_format="%.6g")


def _sibling(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` added to its stem (``scores.csv`` -> ``scores{suffix}.csv``)."""
    return path.with_name(f"{path.stem}{suffix}{path.suffix}")


def _with_reference(table: pd.DataFrame, reference: Path) -> pd.DataFrame:
    """``table`` and the rows of a ``varnet-train evaluate`` CSV but its true geostrophy,
    named as such; ``table`` alone when there is no such file."""
    import pandas as pd

    if not reference.is_file():
        return table
    ref = pd.read_csv(reference, index_col=0)
    ref.index = [f"{i} (varnet-train evaluate)" for i in ref.index]
    return pd.concat([table, ref.drop(index=[i for i in ref.index
                                              if i.startswith("Geostrophy of true")])])


@main.command("drift")
@_CONFIG
@click.option("--truth", "truth_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The synthetic ocean's truth.nc.")
@click.option("--start", type=_DAY, required=True,
              help="Release day (particles released at 12:00 UTC).")
@click.option("--days", type=click.IntRange(1, 5), default=5, show_default=True,
              help="Drift duration; products of START to START + DAYS are needed.")
@click.option("--spacing-km", type=click.FloatRange(min=0, min_open=True),
              help="Distance between release points  [default: 25 km]")
@click.option("--particles", type=click.IntRange(min=1),
              help="About this many release points instead of --spacing-km.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder  [default: drift-START in the current folder]")
@_QUIET
def drift_command(config_path: Path, truth_path: Path, start: dt.datetime, days: int,
                  spacing_km: float | None, particles: int | None, out_dir: Path | None,
                  quiet: bool) -> None:
    """Lagrangian skill: particles drifted with OpenDrift in the products, the truth and the
    OI's geostrophy; separation after 1, 3, 5 days and Liu-Weisberg skill (CSV, JSON, PNG)."""
    from varnet.operational.drift import assess_drift, require_opendrift

    _setup_logging(quiet)
    if spacing_km is not None and particles is not None:
        raise InputError("give --spacing-km or --particles, not both")
    require_opendrift()  # before anything else: without it nothing can be done
    config = _load(config_path)
    report = assess_drift(config, truth_path, start.date(), days, spacing_km=spacing_km,
                          particles=particles, out_dir=out_dir or Path(f"drift-{start:%Y%m%d}"))
    click.echo("\n".join(report.lines()))


@main.command("init")
@_CONFIG
def init_command(config_path: Path) -> None:
    """Create the configured folders (paths.inbox, archive, quarantine, products, state) where
    missing; says what it created. Safe to run again. Other commands refuse to start while a
    folder is missing (a typo in a path must not start an empty inbox or ledger)."""
    from varnet.operational.config import create_folders

    keys = ("inbox", "archive", "quarantine", "products", "state")
    config = _load(config_path, folders=False)
    existed = {key: Path(getattr(config.paths, key)).is_dir() for key in keys}
    create_folders(config, config_path=config_path)
    for key in keys:
        state = "exists " if existed[key] else "created"
        click.echo(f"{state} paths.{key:<10} {getattr(config.paths, key)}")
    made = sum(not e for e in existed.values())
    click.echo(f"{made} folder{'s' if made != 1 else ''} created" if made
               else "every folder exists; nothing to do")


@main.group("ledger")
def ledger_group() -> None:
    """Look after the ledger ({state}/ledger.sqlite): rebuild it when lost or damaged."""


@ledger_group.command("rebuild")
@_CONFIG
@click.option("--force", is_flag=True,
              help="Rebuild even a ledger that opens fine (its runs, timings and failed "
                   "attempts are not on disk and are lost; the file is kept aside).")
@_QUIET
def ledger_rebuild_command(config_path: Path, force: bool, quiet: bool) -> None:
    """Rebuild a lost, emptied or damaged ledger from the archive, the quarantine and the
    product files.

    The old file is kept as ledger.sqlite.damaged-YYYYmmddTHHMMSS beside it. Refused while
    a daemon or an ingest runs on the state folder (exit 3), and for a ledger that opens
    fine unless --force (exit 2). Exits 1 when some file could not be read (listed), else 0.
    """
    from varnet.operational.rebuild import rebuild_ledger

    _setup_logging(quiet)
    config = _load(config_path)
    report = rebuild_ledger(config, force=force)
    click.echo("\n".join(report.lines()))
    sys.exit(1 if report.unreadable else 0)

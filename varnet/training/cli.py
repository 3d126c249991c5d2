"""``varnet-train``: train a 4DVarNet or a baseline, and write the paper's score table.

\b
    varnet-train --config configs/demo.toml [--run-dir runs/demo] [--resume]
    varnet-train evaluate RUN_OR_CHECKPOINT [RUN_OR_CHECKPOINT ...] [--osse DIR] [--out DIR]

\b
Exit status:
    0  trained, or evaluated
    1  the training diverged (its loss became infinite or NaN)
    2  bad configuration, arguments, checkpoint or input: nothing was done
Errors are one line; an unexpected error (a bug) shows its traceback.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click

from varnet.cli_errors import VarnetGroup
from varnet.errors import InputError


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )


@click.group(cls=VarnetGroup, invoke_without_command=True, help=__doc__)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Training configuration (TOML), e.g. configs/demo.toml.")
@click.option("--run-dir", type=click.Path(path_type=Path),
              help="Run directory. Default: runs/<name from the configuration>.")
@click.option("--resume", is_flag=True, help="Continue from the run directory's last.pt.")
@click.option("--quiet", is_flag=True, help="No progress bars, warnings only.")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, run_dir: Path | None, resume: bool,
         quiet: bool) -> None:
    """Train (without a sub-command) or evaluate."""
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        click.echo(ctx.get_help())
        raise InputError("give --config FILE to train, or a sub-command")
    _setup_logging(quiet)
    from varnet.training.config import load_config

    config = load_config(config_path)
    from varnet.training.train import train

    run_dir = run_dir or Path("runs") / config.name
    started = time.perf_counter()
    best = train(config, run_dir, resume=resume, progress=not quiet)
    if os.environ.get("RANK", "0") != "0":
        return  # torchrun: rank 0 reports
    click.echo(f"trained {config.name} in {(time.perf_counter() - started) / 60:.1f} min; "
               f"best checkpoint: {best}")
    click.echo(f"evaluate it with: varnet-train evaluate {run_dir}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--osse", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Synthetic ocean to evaluate on. Default: the one the models trained on.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Output folder. Default: <first run or checkpoint folder>/evaluation.")
@click.option("--crop-deg", type=float, default=1.0, show_default=True,
              help="Border left out of the scores, degrees.")
@click.option("--coastal-band-km", type=click.FloatRange(min=0), default=20.0,
              show_default=True,
              help="Where the ocean has land, also write the table over the sea farther than "
                   "this from land (scores_offshore_<band>km.md, .csv); 0: do not write it.")
@click.option("--device", default="cpu", show_default=True, help="Torch device.")
@click.option("--quiet", is_flag=True, help="No progress bars, warnings only.")
def evaluate(runs: tuple[Path, ...], osse: Path | None, out_dir: Path | None, crop_deg: float,
             coastal_band_km: float, device: str, quiet: bool) -> None:
    """Write the paper's table (markdown, CSV), maps and PSD score curves for RUNS.

    Each of RUNS is a checkpoint (.pt), a run directory, or a directory of those (all the
    models found are scored together, one row each, next to the geostrophy of the true SSH
    and of the OI). Where the ocean has land, the table covers the sea, and a second one the
    sea beyond a coastal band (--coastal-band-km).
    """
    _setup_logging(quiet)
    _require_device(device)
    from varnet.training.evaluate import evaluate as run_evaluation
    from varnet.training.evaluate import find_checkpoints

    checkpoints = [c for r in runs for c in find_checkpoints(r)]
    first = runs[0] if runs[0].is_dir() else runs[0].parent
    result = run_evaluation(checkpoints, out_dir or first / "evaluation", osse=osse,
                            crop_deg=crop_deg, device=device, progress=not quiet,
                            coastal_band_km=coastal_band_km)
    tables = [result] if result.offshore is None else [result, result.offshore]
    for table in tables:
        click.echo(table.markdown.read_text())
    files = [path for table in tables for path in (table.markdown, table.csv)]
    click.echo(f"wrote {', '.join(map(str, [*files, result.maps, result.psd]))}")


def _require_device(device: str) -> None:
    """Stop on a ``--device`` that torch cannot parse or that this machine lacks.

    Raises
    ------
    varnet.errors.InputError
        Naming ``--device`` (exit status 2).
    """
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as exc:  # torch's error for a device string it cannot parse
        raise InputError(f"--device {device!r}: {exc}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device!r}: torch finds no CUDA device here")


if __name__ == "__main__":
    main()

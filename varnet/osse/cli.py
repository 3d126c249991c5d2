"""``varnet-osse``: generate the embedded synthetic ocean, regenerate its spun-up state, or
measure it against a real DUACS L4 day.

\b
Exit status:
    0  written
    2  bad configuration or arguments: nothing was done
Errors are one line; an unexpected error (a bug) shows its traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from varnet.cli_errors import VarnetGroup
from varnet.config import load_toml
from varnet.osse.config import OsseConfig, gulf_stream


def _load(config_path: Path | None) -> OsseConfig:
    """The configuration of ``--config``, or the embedded default ocean without one.

    Raises
    ------
    varnet.config.ConfigError
        If the file cannot be read or a value is wrong (naming the file and the key).
    """
    if config_path is None:
        return gulf_stream()
    return load_toml(OsseConfig, config_path)


@click.group(cls=VarnetGroup, help=__doc__)
def main() -> None:
    """Entry point of ``varnet-osse``."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="OSSE configuration (TOML). Default: the embedded default ocean.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def generate(config_path: Path | None, out_dir: Path, quiet: bool) -> None:
    """Generate truth, along-track SSH, SST files, diagnostics and a quicklook."""
    from varnet.osse.generate import generate as run

    config = _load(config_path)
    started = time.perf_counter()
    products = run(config, out_dir, progress=not quiet)
    elapsed = time.perf_counter() - started
    click.echo(f"wrote {out_dir}: truth.nc, {len(products.alongtrack)} along-track files, "
               f"{len(products.sst_l4)} L4 and {len(products.sst_l3)} L3 SST files "
               f"in {elapsed:.0f} s")
    click.echo(f"diagnostics ({products.diagnostics}):")
    click.echo(json.dumps(products.summary, indent=2, sort_keys=True))
    if products.quicklook:
        click.echo(f"quicklook: {products.quicklook}")


@main.command("ocean-mask")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="OSSE configuration (TOML). Default: the embedded default ocean.")
@click.option("--coarsen", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cells of the mask: blocks of this many x this many grid cells (the "
                   "training's data.coarsen).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The sftof file to write (NetCDF).")
def ocean_mask(config_path: Path | None, out_path: Path, coarsen: int) -> None:
    """Write the ocean's land mask as a sea area fraction (for [region] ocean_mask)."""
    from varnet.datamodel.grid import block_mean
    from varnet.io.ocean_mask import write_sea_area_fraction
    from varnet.osse.coast import ocean_on_grid

    config = _load(config_path)
    grid = config.grid.grid()
    fine = ocean_on_grid(config.coast, grid.lat, grid.lon).astype(np.float64)
    coarse = grid.coarsened(coarsen)
    fraction = block_mean(fine, coarsen)
    write_sea_area_fraction(out_path, coarse.lat, coarse.lon, fraction,
                            source="varnet-osse ocean-mask")
    land = int(np.count_nonzero(fraction < 0.5))
    click.echo(f"wrote {out_path}: {coarse.lat.size} x {coarse.lon.size} cells, {land} land")


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="OSSE configuration (TOML) whose physics the state is for.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="Where to write the state (.npz).")
@click.option("--years", type=click.FloatRange(min=0), default=3.0,
              show_default=True, help="Model years of spin-up at half resolution.")
@click.option("--refine-days", type=click.FloatRange(min=0), default=180.0, show_default=True,
              help="Model days at full resolution after refinement.")
def spinup(config_path: Path | None, out_path: Path, years: float, refine_days: float) -> None:
    """Spin the truth ocean up from rest and save the state (a few minutes)."""
    from varnet.osse.spinup import save_state, spin_up

    config = _load(config_path)
    bars: dict[str, tqdm] = {}

    def progress(phase: str, fraction: float) -> None:
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = tqdm(total=100, desc=phase, unit="%")
        bar.update(round(100 * fraction) - bar.n)

    model = spin_up(config, years=years, refine_days=refine_days, progress=progress)
    for bar in bars.values():
        bar.close()
    save_state(out_path, model, days_spun=years * 365 + refine_days)
    click.echo(f"wrote {out_path} (energy {model.energy():.3e} m2 s-2)")


@main.command()
@click.option("--truth", "truth_path", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path), required=True,
              help="truth.nc of varnet-osse generate.")
@click.option("--duacs", "duacs_path", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path), required=True,
              help="A DUACS L4 file (adt; sla and ugos/vgos if it has them); read, not copied.")
@click.option("--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The truth's day drawn and reported alone (YYYY-MM-DD). Default: its "
                   "first day.")
@click.option("--box", "box_text", default="33,43,-65,-55", show_default=True,
              help="lat_min,lat_max,lon_min,lon_max, degrees: the cells measured.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for realism.json and realism.png.")
def realism(truth_path: Path, duacs_path: Path, day: dt.datetime | None, box_text: str,
            out_dir: Path) -> None:
    """Measure the truth against a real DUACS L4 day at the real product's cells."""
    from varnet.osse.realism import Box, format_table, realism_report

    report = realism_report(truth_path, duacs_path, Box.parse(box_text), out_dir,
                            None if day is None else day.date())
    click.echo(format_table(report))
    click.echo(f"wrote {out_dir / 'realism.json'} and {out_dir / 'realism.png'}")

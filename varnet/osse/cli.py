"""``varnet-osse``: generate the embedded synthetic ocean, or regenerate its spun-up state.

\b
Exit status:
    0  written
    2  bad configuration or arguments: nothing was done
Errors are one line; an unexpected error (a bug) shows its traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from tqdm import tqdm

from varnet.cli_errors import VarnetGroup
from varnet.config import load_toml
from varnet.osse.config import OsseConfig


def _load(config_path: Path | None) -> OsseConfig:
    """The configuration of ``--config``, or the embedded default ocean without one.

    Raises
    ------
    varnet.config.ConfigError
        If the file cannot be read or a value is wrong (naming the file and the key).
    """
    if config_path is None:
        return OsseConfig()
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

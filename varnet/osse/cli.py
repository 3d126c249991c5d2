"""``varnet-osse``: generate the embedded synthetic ocean, or regenerate its spun-up state."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from varnet.config import ConfigError, load_toml
from varnet.osse.config import OsseConfig


def _load(config_path: Path | None) -> OsseConfig:
    if config_path is None:
        return OsseConfig()
    return load_toml(OsseConfig, config_path)


@click.group(help=__doc__)
def main() -> None:
    """Entry point of ``varnet-osse``."""


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="OSSE configuration (TOML). Default: the embedded default ocean.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def generate(config_path: Path | None, out_dir: Path, quiet: bool) -> None:
    """Generate truth, along-track SSH, SST files, diagnostics and a quicklook."""
    from varnet.osse.generate import generate as run

    try:
        config = _load(config_path)
        started = time.perf_counter()
        products = run(config, out_dir, progress=not quiet)
    except ConfigError as err:
        click.echo(f"error: configuration {err}", err=True)
        sys.exit(2)
    elapsed = time.perf_counter() - started
    click.echo(f"wrote {out_dir}: truth.nc, {len(products.alongtrack)} along-track files, "
               f"{len(products.sst_l4)} L4 and {len(products.sst_l3)} L3 SST files "
               f"in {elapsed:.0f} s")
    click.echo(f"diagnostics ({products.diagnostics}):")
    click.echo(json.dumps(products.summary, indent=2, sort_keys=True))
    if products.quicklook:
        click.echo(f"quicklook: {products.quicklook}")


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="OSSE configuration (TOML) whose physics the state is for.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="Where to write the state (.npz).")
@click.option("--years", type=float, default=3.0, show_default=True,
              help="Model years of spin-up at half resolution.")
@click.option("--refine-days", type=float, default=180.0, show_default=True,
              help="Model days at full resolution after refinement.")
def spinup(config_path: Path | None, out_path: Path, years: float, refine_days: float) -> None:
    """Spin the truth ocean up from rest and save the state (a few minutes)."""
    from varnet.osse.spinup import save_state, spin_up

    try:
        config = _load(config_path)
    except ConfigError as err:
        click.echo(f"error: configuration {err}", err=True)
        sys.exit(2)
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

"""Quicklook PNG of the synthetic ocean: one day of truth and of satellite tracks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from varnet.kernels.finite_differences import (
    coriolis_parameter,
    divergence,
    relative_vorticity,
)
from varnet.osse.truth import TruthDay


def _symmetric_limit(field: np.ndarray, quantile: float = 0.99) -> float:
    value = float(np.nanquantile(np.abs(field), quantile))
    return value if value > 0 else 1.0


def plot_quicklook(path: str | Path, day: dt.date, lat: np.ndarray, lon: np.ndarray,
                   fields: TruthDay, tracks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                   summary: dict[str, object]) -> Path:
    """Draw SSH, speed, vorticity/f, divergence/f, SST and the day's tracks; save as PNG.

    Parameters
    ----------
    path : str or Path
        Output PNG.
    day : datetime.date
        The day shown.
    lat, lon : ndarray
        Grid cell centres, degrees.
    fields : TruthDay
        Truth of that day.
    tracks : list of (mission, lon, lat, sla_filtered)
        That day's along-track observations per mission.
    summary : dict
        Diagnostics; the main numbers go into the figure title.
    """
    f = coriolis_parameter(lat)[:, None]
    zeta = relative_vorticity(fields.u, fields.v, lat, lon) / f
    div = divergence(fields.u, fields.v, lat, lon) / f
    speed = np.hypot(fields.u, fields.v)
    extent = (lon[0], lon[-1], lat[0], lat[-1])
    fig, axes = plt.subplots(2, 3, figsize=(16, 10), constrained_layout=True)

    def show(ax, data, title, cmap, label, vmin=None, vmax=None, alpha=1.0):
        im = ax.imshow(data, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax,
                       aspect=1.0 / np.cos(np.deg2rad(lat.mean())), interpolation="nearest",
                       alpha=alpha)
        ax.set_facecolor("0.75")  # land (NaN) in grey
        ax.set_title(title)
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        fig.colorbar(im, ax=ax, shrink=0.85, label=label)
        return im

    show(axes[0, 0], fields.ssh, "SSH (MDT + anomaly)", "viridis", "m")
    axes[0, 0].contour(lon, lat, fields.ssh, levels=15, colors="k", linewidths=0.4)
    show(axes[0, 1], speed, "surface current speed", "magma", "m s-1", 0,
         float(np.nanquantile(speed, 0.995)))
    step = max(1, lat.size // 24)
    axes[0, 1].quiver(lon[::step], lat[::step], fields.u[::step, ::step],
                      fields.v[::step, ::step], color="w", scale=12, width=0.002)
    lim = _symmetric_limit(zeta)
    show(axes[0, 2], zeta, "relative vorticity / f", "RdBu_r", "dimensionless", -lim, lim)
    lim = _symmetric_limit(div)
    show(axes[1, 0], div, "divergence / f (ageostrophic)", "PuOr_r", "dimensionless", -lim, lim)
    show(axes[1, 1], fields.sst - 273.15, "SST", "RdYlBu_r", "degrees C")
    ax = axes[1, 2]
    lim = _symmetric_limit(fields.sla, 0.995)
    show(ax, fields.sla, "SLA truth (faded) and the day's nadir tracks", "RdBu_r", "m", -lim,
         lim, alpha=0.35)
    for mission, tlon, tlat, sla in tracks:
        if tlon.size:
            ax.plot(tlon, tlat, ".", color="k", markersize=4.5)
            ax.scatter(tlon, tlat, c=sla, s=5, cmap="RdBu_r", vmin=-lim, vmax=lim,
                       edgecolors="none", zorder=3)
            ax.annotate(mission, (tlon[tlon.size // 2], tlat[tlat.size // 2]), fontsize=8,
                        color="k", backgroundcolor=(1, 1, 1, 0.6))
    ax.set_xlim(lon[0], lon[-1])
    ax.set_ylim(lat[0], lat[-1])

    def fmt(key: str, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
        value = summary.get(key)
        return "n/a" if not isinstance(value, float) else f"{value * scale:.{digits}f}{unit}"

    fig.suptitle(
        f"varnet synthetic ocean, {day.isoformat()} (12:00 UTC) -- SLA rms "
        f"{fmt('sla_rms_m', 100, ' cm', 1)}, speed rms {fmt('speed_rms_m_s', 1, ' m/s')}, "
        f"Ro rms {fmt('rossby_rms')}, SSH slope {fmt('ssh_spectral_slope_50_250km', 1, '', 1)}"
        f", geostrophy explains {fmt('geostrophic_variance_explained', 100, ' %', 1)}, "
        f"observed cells/day {fmt('observed_cell_fraction_per_day', 100, ' %')}",
        fontsize=11)
    path = Path(path)
    tmp = path.with_name(path.stem + ".partial.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path

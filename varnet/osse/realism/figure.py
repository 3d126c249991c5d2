"""The figure of ``varnet-osse realism``: :func:`plot_side_by_side` draws the synthetic ocean's
day and the real day over the box (ADT minus its box mean, geostrophic speed, on shared colour
scales) and both kinetic-energy spectra, titled with their statistics, into a PNG.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter
from numpy.typing import NDArray

from varnet.io.atomic import atomic_path
from varnet.osse.realism.box import Box
from varnet.osse.realism.statistics import (
    SLOPE_BAND_KM,
    Day,
    Stats,
    day_statistics,
    geostrophy_like_duacs,
    ke_spectrum,
    sea_values,
)

__all__ = ["format_value", "plot_side_by_side"]

_LAND_COLOUR = "#b0b0b0"


def _box_map(day: Day, values: NDArray[np.float64], box: Box
             ) -> tuple[NDArray[np.float64], tuple[float, float, float, float]]:
    """``values`` over the box's cells (NaN on land) and their edges' extent."""
    rows, cols = box.cells(day.grid)
    dlat, dlon = day.grid.resolution_deg
    lat, lon = day.grid.lat[rows], box.longitudes(day.grid.lon[cols])
    extent = (lon[0] - dlon / 2, lon[-1] + dlon / 2, lat[0] - dlat / 2, lat[-1] + dlat / 2)
    return day.grid.mask_land(values)[rows, cols], extent


def _draw_map(ax: Axes, data: NDArray[np.float64], extent: tuple[float, float, float, float],
              title: str, cmap: str, limits: tuple[float, float]) -> AxesImage:
    """``data`` as an image over ``extent`` (degrees), NaN (land) in grey, equal distances."""
    ax.set_facecolor(_LAND_COLOUR)
    image = ax.imshow(np.ma.masked_invalid(data), origin="lower", extent=extent, cmap=cmap,
                      vmin=limits[0], vmax=limits[1], interpolation="nearest",
                      aspect=1.0 / math.cos(math.radians(0.5 * (extent[2] + extent[3]))))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    return image


def format_value(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or ``"absent"``."""
    return "absent" if value is None else f"{value:.{digits}f}"


def _draw_spectra(ax: Axes, spectra: list[tuple[str, tuple | None, float | None]]) -> None:
    """The KE spectra against wavelength (km, large scales on the left), the slope band
    shaded; a spectrum that is None is left out."""
    for (label, spectrum, slope), colour in zip(spectra, ("tab:blue", "black"), strict=True):
        if spectrum is None:
            continue
        k, e = spectrum
        ax.loglog(1.0 / k, e, color=colour, marker="o", markersize=3,
                  label=f"{label}: slope {format_value(slope, 1)}")
    ax.axvspan(*SLOPE_BAND_KM, color="0.9", zorder=0,
               label=f"slope band {SLOPE_BAND_KM[0]:g}-{SLOPE_BAND_KM[1]:g} km")
    ax.invert_xaxis()
    ax.xaxis.set_major_locator(FixedLocator([25, 50, 100, 250, 500, 1000]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("wavelength (km)")
    ax.set_ylabel("KE spectrum E_u + E_v ((m/s)² per cycle/km)")
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("kinetic-energy spectra of the geostrophic current\n(largest all-sea "
                 "rectangle of the box)", fontsize=10)


class _Panel(NamedTuple):
    """What the figure draws of one day over the box."""

    name: str
    anomaly: NDArray[np.float64]  # ADT minus its box sea mean, m, NaN on land
    speed: NDArray[np.float64]  # geostrophic speed, m s-1, NaN on land
    extent: tuple[float, float, float, float]  # cell edges, degrees
    spectrum: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    stats: Stats


def _panel(day: Day, box: Box) -> _Panel:
    """The maps, spectrum and statistics of ``day`` over the box."""
    u, v = geostrophy_like_duacs(day.adt, day.grid.lat, day.grid.lon)
    adt = sea_values(day.adt, day.grid, box)
    anomaly, extent = _box_map(day, day.adt - (adt.mean() if adt.size else 0.0), box)
    speed, _ = _box_map(day, np.hypot(u, v), box)
    return _Panel(f"{day.label} {day.date}", anomaly, speed, extent,
                  ke_spectrum(u, v, day.grid, box), day_statistics(day, box))


def _draw_column(adt_ax: Axes, speed_ax: Axes, panel: _Panel, adt_limit: float,
                 speed_limit: float) -> tuple[AxesImage, AxesImage]:
    """One day's ADT anomaly and speed maps, titled with their statistics."""
    stats = panel.stats
    sla = "" if stats["sla_rms_m"] is None else f", SLA rms {format_value(stats['sla_rms_m'])} m"
    return (_draw_map(adt_ax, panel.anomaly, panel.extent,
                      f"{panel.name}: ADT − box mean\n"
                      f"std {format_value(stats['adt_std_m'])} m{sla}",
                      "RdBu_r", (-adt_limit, adt_limit)),
            _draw_map(speed_ax, panel.speed, panel.extent,
                      f"{panel.name}: geostrophic speed\n"
                      f"rms {format_value(stats['speed_rms_m_s'])}, "
                      f"max {format_value(stats['speed_max_m_s'])} m/s",
                      "viridis", (0.0, speed_limit)))


def plot_side_by_side(ours: Day, real: Day, box: Box, path: str | os.PathLike[str]) -> Path:
    """A PNG of two days on the same cells' scale: ADT, geostrophic speed, KE spectra.

    Left: ``ours``; middle: ``real``, both over the box; ADT drawn minus its box mean (the
    statistics do not depend on the level), speed of :func:`geostrophy_like_duacs`, with the
    same colour scales for both, land grey; right: both KE spectra (:func:`ke_spectrum`).
    Titles give the statistics of :func:`day_statistics`. Written atomically.

    Parameters
    ----------
    ours, real : Day
        The synthetic ocean's day (at the product's cells) and the real day.
    box : Box
        The region drawn.
    path : str or os.PathLike
        The PNG.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    panels = [_panel(ours, box), _panel(real, box)]
    adt_limit = max(float(np.nanquantile(np.abs(p.anomaly), 0.995)) for p in panels) or 1.0
    speed_limit = max(float(np.nanmax(p.speed)) for p in panels) or 1.0
    fig = Figure(figsize=(16, 9.5), layout="constrained")
    FigureCanvasAgg(fig)
    layout = fig.add_gridspec(2, 3, width_ratios=(1, 1, 1.1))
    axes = [[fig.add_subplot(layout[row, column]) for column in (0, 1)] for row in (0, 1)]
    for column, panel in enumerate(panels):
        adt_image, speed_image = _draw_column(axes[0][column], axes[1][column], panel,
                                              adt_limit, speed_limit)
    fig.colorbar(adt_image, ax=axes[0], label="ADT − box mean (m)", shrink=0.9)
    fig.colorbar(speed_image, ax=axes[1], label="speed (m/s)", shrink=0.9)
    _draw_spectra(fig.add_subplot(layout[:, 2]),
                  [(p.name, p.spectrum, p.stats["ke_slope_50_250km"]) for p in panels])
    dlat, dlon = ours.grid.resolution_deg
    fig.suptitle(f"The synthetic ocean against {real.label}, box {box}, cells of "
                 f"{dlat:g} x {dlon:g} degree, over the sea", fontsize=12)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)

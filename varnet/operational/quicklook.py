"""Quicklook PNG of one daily product: sea surface height with current vectors, vorticity / |f|.

The height shown is the absolute dynamic topography (``adt``) where the product has one, whose
contours follow the absolute geostrophic current, else the sea level anomaly (``sla``).

Land (the product's ``sftof`` = 0, or ``ocean`` False) is painted a uniform mid grey
(``#b0b0b0``) over the fields, never a colour of a colour map; sea cells without a value
(outside the domain, gaps) show the lighter grey of the panel behind the fields.

Drawn with matplotlib's Agg canvas on a private :class:`matplotlib.figure.Figure` (no pyplot
state, so it is safe in the daemon's worker threads and changes no global backend), and
written atomically (:func:`varnet.io.atomic.atomic_path`).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from varnet.io.atomic import atomic_path
from varnet.operational.derived import as_ocean_mask, derive_fields

__all__ = ["quicklook_figure", "write_quicklook"]

_ARROWS_PER_AXIS = 25
#: Behind the fields: cells without a value (outside the domain, gaps at sea).
_MISSING_COLOUR = "0.82"
#: Land, painted over the fields.
LAND_COLOUR = "#b0b0b0"
_DPI = 110
#: Map panel size limits, inches: (lowest height, preferred width, largest side), and the
#: narrowest width.
_PANEL_IN = (2.6, 5.3, 9.0)
_NARROWEST_IN = 2.2
#: Room around a panel for tick labels, axis labels, colour bar labels and titles, inches.
_MARGINS_IN = {"left": 0.8, "right": 0.85, "bottom": 0.6, "top": 1.0}
_TITLE_TOP_IN = 0.08
#: Width of the longest panel title on one line, inches; narrower panels get short titles
#: on two lines (at most 2.2 inches wide, the narrowest panel).
_TITLE_WIDTH_IN = 4.6


def _symmetric_limit(values: np.ndarray, quantile: float = 0.99) -> float:
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 1.0
    value = float(np.quantile(finite, quantile))
    return value if value > 0 else 1.0


def _nice(value: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``value`` (``value`` > 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    for m in (5.0, 2.0, 1.0):
        if m * power <= value:
            return m * power
    return power


def _day(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _from_dataset(
    ds: xr.Dataset,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray | None]:
    """The fields, latitudes, longitudes and land mask (True on sea; None: no ``sftof``)."""
    missing = [k for k in ("sla", "uo", "vo") if k not in ds]
    if missing:
        raise ValueError(f"dataset lacks {missing}")
    ocean = None
    if "sftof" in ds:  # the land mask: land where the sea area fraction is 0
        da = ds["sftof"]
        if "time" in da.dims:
            da = da.isel(time=0)
        ocean = np.asarray(da.transpose("latitude", "longitude").values) != 0
    fields = {}
    for key in ("sla", "adt", "uo", "vo", "vorticity_f"):
        if key in ds:
            da = ds[key]
            if "time" in da.dims:
                if da.sizes["time"] != 1:
                    raise ValueError(f"{key} has {da.sizes['time']} times; a quicklook shows one")
                da = da.isel(time=0)
            fields[key] = np.asarray(da.transpose("latitude", "longitude").values)
    return fields, ds["latitude"].values, ds["longitude"].values, ocean


def _two_panel_figure(ratio: float
                      ) -> tuple[Figure, tuple[Axes, Axes], tuple[Axes, Axes], bool]:
    """A figure of two map panels, each with its colour bar, laid out by hand.

    The panels have the domain's displayed height / width ``ratio`` (so the maps fill them)
    within the size limits; a fixed layout draws once where matplotlib's constrained layout
    draws twice to measure its labels (half the quicklook's time). The last value says
    whether the panels are narrower than a one-line title (room is left for two lines).
    """
    smallest, preferred, largest = _PANEL_IN
    ratio = max(ratio, 1e-9)
    height = min(max(preferred * ratio, smallest), largest)
    width = min(max(height / ratio, _NARROWEST_IN), largest)
    left, gap, bar, right = _MARGINS_IN["left"], 0.12, 0.18, _MARGINS_IN["right"]
    narrow = width < _TITLE_WIDTH_IN
    bottom, top = _MARGINS_IN["bottom"], _MARGINS_IN["top"] + (0.25 if narrow else 0.0)
    fig_width = 2 * (left + width + gap + bar + right)
    fig_height = bottom + height + top
    fig = Figure(figsize=(fig_width, fig_height))
    FigureCanvasAgg(fig)

    def panel(x0: float) -> tuple[Axes, Axes]:
        def rect(x: float, w: float) -> tuple[float, float, float, float]:
            return (x / fig_width, bottom / fig_height, w / fig_width, height / fig_height)

        return (fig.add_axes(rect(x0 + left, width)),
                fig.add_axes(rect(x0 + left + width + gap, bar)))

    return fig, panel(0.0), panel(fig_width / 2), narrow


def _paint_land(ax: Axes, lon: np.ndarray, lat: np.ndarray, land: np.ndarray | None) -> None:
    """Land cells in :data:`LAND_COLOUR`, over the field just drawn (a one-colour map of its
    own, so land never takes a colour of the field's map); nothing without land."""
    if land is None:
        return
    ax.pcolormesh(lon, lat, np.ma.masked_array(np.ones(land.shape), mask=~land),
                  cmap=ListedColormap([LAND_COLOUR]), vmin=0.0, vmax=1.0, shading="nearest",
                  rasterized=True)


def quicklook_figure(
    ds_or_fields: xr.Dataset | Mapping[str, ArrayLike],
    lat: ArrayLike | None = None,
    lon: ArrayLike | None = None,
    title: str | None = None,
    *,
    product_day: dt.date | None = None,
    production_day: dt.date | None = None,
    ocean: ArrayLike | None = None,
) -> Figure:
    """Draw the two-panel quicklook of one day, as :func:`write_quicklook` describes it.

    Parameters
    ----------
    ds_or_fields : xarray.Dataset or mapping of str to array_like
        A product as :func:`varnet.operational.products.read_product` returns it (one
        time), or arrays of shape ``(nlat, nlon)``: ``sla`` (m), ``uo``, ``vo`` (m s-1) and
        optionally ``adt`` (m; shown instead of the SLA) and ``vorticity_f`` (computed with
        :func:`varnet.operational.derived.derive_fields` when absent).
    lat, lon : array_like, optional
        Cell-centre latitudes and longitudes, degrees; required with a mapping, taken from
        the dataset otherwise.
    title : str, optional
        First line of the figure title; default the dataset's ``title`` attribute, else
        "varnet daily product".
    product_day, production_day : datetime.date, optional
        Shown on the second title line; default the dataset's ``product_day`` and
        ``production_day`` attributes.
    ocean : numpy.ndarray of bool, shape (nlat, nlon), optional
        Land mask, True on sea cells; land is painted grey (``#b0b0b0``) over the fields and
        no arrow is drawn there. Default: from the dataset's ``sftof`` (land where it is 0),
        else all sea (nothing painted, the figure as without a mask).

    Returns
    -------
    matplotlib.figure.Figure
        A figure on an Agg canvas, not registered with pyplot.

    Raises
    ------
    ValueError
        If a required field or the coordinates are missing or shapes disagree.
    TypeError
        If ``ocean`` is not boolean.
    """
    attrs: Mapping[str, object] = {}
    from_file = None
    if isinstance(ds_or_fields, xr.Dataset):
        fields, lat_a, lon_a, from_file = _from_dataset(ds_or_fields)
        attrs = ds_or_fields.attrs
        if lat is not None or lon is not None:
            lat_a = np.asarray(lat if lat is not None else lat_a, dtype=np.float64)
            lon_a = np.asarray(lon if lon is not None else lon_a, dtype=np.float64)
    else:
        if lat is None or lon is None:
            raise ValueError("lat and lon are required when fields are given as a mapping")
        missing = [k for k in ("sla", "uo", "vo") if k not in ds_or_fields]
        if missing:
            raise ValueError(f"fields lack {missing}")
        fields = {k: np.asarray(v, dtype=np.float64) for k, v in ds_or_fields.items()}
        lat_a = np.asarray(lat, dtype=np.float64)
        lon_a = np.asarray(lon, dtype=np.float64)
    shape = (lat_a.size, lon_a.size)
    for key, value in fields.items():
        if value.shape != shape:
            raise ValueError(f"{key} has shape {value.shape}, expected (lat, lon) = {shape}")
    sea = as_ocean_mask(ocean if ocean is not None else from_file, shape)
    land = None if sea is None or sea.all() else ~sea
    sla, uo, vo = (np.asarray(fields[k], dtype=np.float64) for k in ("sla", "uo", "vo"))
    if "vorticity_f" in fields:
        zeta_f = np.asarray(fields["vorticity_f"], dtype=np.float64)
    else:
        zeta_f = derive_fields(sla, uo, vo, lat_a, lon_a, ocean=sea)["vorticity_f"]
    adt = np.asarray(fields["adt"], dtype=np.float64) if "adt" in fields else None
    if land is not None:  # nothing on land reaches the colour scales, arrows or contours
        sla, uo, vo, zeta_f = (np.where(land, np.nan, a) for a in (sla, uo, vo, zeta_f))
        adt = None if adt is None else np.where(land, np.nan, adt)
    absolute = adt is not None and bool(np.isfinite(adt).any())
    ssh = adt if absolute else sla
    ssh_label = "absolute dynamic topography" if absolute else "sea level anomaly"
    short = "ADT" if absolute else "SLA"

    first = title or str(attrs.get("title") or "varnet daily product")
    day = _day(product_day) or _day(attrs.get("product_day"))
    produced = _day(production_day) or _day(attrs.get("production_day"))
    second = []
    if day:
        second.append(f"product day {day}")
    if produced:
        second.append(f"produced {produced}")
    if attrs.get("processing_status"):
        second.append(str(attrs["processing_status"]))
    if attrs.get("model_id"):
        second.append(f"model {attrs['model_id']}")
    suptitle = first + ("\n" + ", ".join(second) if second else "")

    mean_lat = float(np.nanmean(lat_a))
    aspect = 1.0 / max(math.cos(math.radians(mean_lat)), 0.05)
    # a panel narrower than its titles gets them on two lines, and the reference arrow inside
    fig, (ax_ssh, cax_ssh), (ax_vort, cax_vort), narrow = _two_panel_figure(
        (lat_a[-1] - lat_a[0]) * aspect / max(lon_a[-1] - lon_a[0], 1e-9))
    for ax in (ax_ssh, ax_vort):
        ax.set_facecolor(_MISSING_COLOUR)
        # the panel has the domain's shape already (limits: the edges of the cells, from the
        # meshes); a panel at its size limits shows more around the domain
        ax.set_aspect(aspect, adjustable="datalim")
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")

    # SSH and current vectors
    if absolute:
        finite = ssh[np.isfinite(ssh)]
        lo, hi = (np.quantile(finite, [0.005, 0.995]) if finite.size else (0.0, 1.0))
        mesh = ax_ssh.pcolormesh(lon_a, lat_a, np.ma.masked_invalid(ssh), cmap="viridis",
                                 vmin=lo, vmax=hi, shading="nearest", rasterized=True)
    else:
        lim = _symmetric_limit(ssh, 0.995)
        mesh = ax_ssh.pcolormesh(lon_a, lat_a, np.ma.masked_invalid(ssh), cmap="RdBu_r",
                                 vmin=-lim, vmax=lim, shading="nearest", rasterized=True)
    fig.colorbar(mesh, cax=cax_ssh, extend="both", label=f"{ssh_label} (m)")
    _paint_land(ax_ssh, lon_a, lat_a, land)
    sy = max(1, math.ceil(lat_a.size / _ARROWS_PER_AXIS))
    sx = max(1, math.ceil(lon_a.size / _ARROWS_PER_AXIS))
    y0, x0 = sy // 2, sx // 2  # centre the arrow lattice in the domain
    u_s, v_s = uo[y0::sy, x0::sx], vo[y0::sy, x0::sx]
    speed = np.hypot(u_s, v_s)
    finite = speed[np.isfinite(speed) & (speed > 0)]
    # the 98th-percentile speed draws an arrow as long as the spacing between arrows
    typical = float(np.quantile(finite, 0.98)) if finite.size else 0.1
    n_x = math.ceil(lon_a.size / sx)
    arrows = ax_ssh.quiver(
        lon_a[x0::sx], lat_a[y0::sy], np.ma.masked_invalid(u_s), np.ma.masked_invalid(v_s),
        angles="uv", scale_units="width", scale=typical * n_x, width=0.003, headwidth=3.5,
        headlength=4, headaxislength=3.5, color="black", edgecolor="white", linewidth=0.4,
        pivot="middle",
    )
    reference = _nice(typical)
    ax_ssh.quiverkey(arrows, *((0.8, 0.04) if narrow else (0.86, 1.025)), reference,
                     f"{reference:g} m s-1", labelpos="N" if narrow else "E",
                     coordinates="axes", fontproperties={"size": 9})
    ax_ssh.set_title(f"{ssh_label}\nand current (uo, vo)" if narrow else
                     f"{ssh_label} and surface current (uo, vo)", loc="left", fontsize=11)

    # vorticity / |f|
    lim = _symmetric_limit(zeta_f)
    mesh = ax_vort.pcolormesh(lon_a, lat_a, np.ma.masked_invalid(zeta_f), cmap="RdBu_r",
                              vmin=-lim, vmax=lim, shading="nearest", rasterized=True)
    fig.colorbar(mesh, cax=cax_vort, extend="both",
                 label="relative vorticity / |f| (dimensionless)")
    _paint_land(ax_vort, lon_a, lat_a, land)
    if np.isfinite(ssh).sum() > 4 and np.nanmax(ssh) > np.nanmin(ssh):
        ax_vort.contour(lon_a, lat_a, np.ma.masked_invalid(ssh), levels=12, colors="k",
                        linewidths=0.5, alpha=0.55)
    ax_vort.set_title(f"relative vorticity / |f|\nand {short} contours" if narrow else
                      f"relative vorticity / |f| of the surface current, {short} contours",
                      loc="left", fontsize=11)
    fig.suptitle(suptitle, fontsize=12, y=1.0 - _TITLE_TOP_IN / fig.get_figheight(), va="top")
    return fig


def write_quicklook(
    path: str | os.PathLike[str],
    ds_or_fields: xr.Dataset | Mapping[str, ArrayLike],
    lat: ArrayLike | None = None,
    lon: ArrayLike | None = None,
    title: str | None = None,
    *,
    product_day: dt.date | None = None,
    production_day: dt.date | None = None,
    ocean: ArrayLike | None = None,
) -> Path:
    """Draw a two-panel quicklook of one day and write it as a PNG, atomically.

    Left: sea-surface height (colour, m: the absolute dynamic topography where the product
    has one, else the sea level anomaly) with the total current (uo, vo) as arrows,
    subsampled to about 25 per axis, with a reference arrow in m s-1. Right: relative
    vorticity divided by :math:`|f|` (dimensionless) on a symmetric diverging colour map
    (limits at the 99th percentile of its magnitude), with contours of the height. Land is
    painted mid grey (``#b0b0b0``) over the fields, with no arrow on it; sea cells without a
    value (NaN: outside the domain, gaps) are light grey; no coastline is drawn. Axes are
    longitude and latitude in degrees, with aspect :math:`1/\\cos\\bar\\phi` so that
    distances look right. The title gives the product day, the production day, the
    processing status and the model.

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG (written to a temporary file in the same folder, then renamed; missing
        folders are created).
    ds_or_fields : xarray.Dataset or mapping of str to array_like
        A product as :func:`varnet.operational.products.read_product` returns it (one
        time), or arrays of shape ``(nlat, nlon)``: ``sla`` (m), ``uo``, ``vo`` (m s-1) and
        optionally ``adt`` (m; shown instead of the SLA) and ``vorticity_f`` (computed with
        :func:`varnet.operational.derived.derive_fields` when absent).
    lat, lon : array_like, optional
        Cell-centre latitudes and longitudes, degrees; required with a mapping, taken from
        the dataset otherwise.
    title : str, optional
        First line of the figure title; default the dataset's ``title`` attribute, else
        "varnet daily product".
    product_day, production_day : datetime.date, optional
        Shown on the second title line; default the dataset's ``product_day`` and
        ``production_day`` attributes.
    ocean : numpy.ndarray of bool, shape (nlat, nlon), optional
        Land mask, True on sea cells. Default: from the dataset's ``sftof`` (land where it
        is 0), else all sea.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If a required field or the coordinates are missing or shapes disagree.
    TypeError
        If ``ocean`` is not boolean.
    """
    fig = quicklook_figure(ds_or_fields, lat, lon, title, product_day=product_day,
                           production_day=production_day, ocean=ocean)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            # fast zlib level: a third of the encoding time for a 10 % larger file
            fig.savefig(tmp, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
    finally:
        fig.clear()
    return path

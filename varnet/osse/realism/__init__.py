r"""The synthetic ocean against a real DUACS L4 day, like with like, at the real product's cells.

A truth day is first brought to the real product's cells (:func:`nest`, :class:`Nesting`):
each coarse cell holds the mean of the sea cells of the truth inside it, and is land where
fewer than half of them are sea (the rule of :meth:`varnet.datamodel.grid.Grid.coarsened`).
The truth's cells must nest in the product's (0.05 degree cells with edges on multiples of
0.05 degree nest 5 x 5 in DUACS's 0.25 degree cells, whose edges are multiples of 0.25);
anything else is refused, naming both grids.

Then the same statistics are computed on both, over the sea cells of a latitude/longitude box
(:class:`Box`; a cell belongs to it when its centre does), by :func:`day_statistics`:

``adt_std_m``
    Standard deviation of the absolute dynamic topography, m.
``speed_rms_m_s``, ``speed_max_m_s``
    Root mean square and largest speed of the absolute geostrophic current of the 0.25 degree
    ADT, m s-1, by :func:`geostrophy_like_duacs` on the whole map (the truth's coarse cells;
    for a real product, the box and a halo of :data:`HALO_CELLS` cells around it where the
    file has them), so that the box's edge cells get centred differences where the data
    extend beyond the box, as in DUACS's global computation.
``reference_speed_rms_m_s``, ``reference_speed_max_m_s``
    The same for a reference current: for the truth, the block mean of the true total
    current; for a real product, its own ``ugos``/``vgos``.
``sla_rms_m``
    Root mean square of the sea-level anomaly, m; absent (None) for a product without ``sla``.
``ke_slope_50_250km``
    Least-squares slope of log E(k) against log k for wavelengths 50-250 km, where E is the
    kinetic-energy spectrum of the geostrophic current above, the sum of the ring-integrated
    isotropic spectra of its two components
    (:func:`varnet.osse.diagnostics.isotropic_spectrum`: plane removed, Hann windows). The
    spectrum needs a gap-free rectangle: it is taken over the largest (by area) rectangle of
    the box whose cells are all sea with a finite current (:func:`largest_sea_rectangle`),
    with distances at that rectangle's central latitude; absent when that rectangle is
    narrower than :data:`MIN_SPECTRUM_CELLS` cells along either axis.
``geostrophic_variance_explained``
    For the truth only, at its full resolution over the box's sea cells:
    :math:`1 - \sum |u - u_g|^2 / \sum |u - \bar u|^2` (both components), the share of the
    total current's variance that geostrophy of the true SSH (the truth's ``ugos``/``vgos``)
    explains; absent for a real product.

The truth's sea is where its ``mdt`` and first day's ``ssh`` are finite; a real product's,
where its ``adt`` is finite. Over a set of days, :func:`summarise` gives each statistic's
mean, min and max over the days (absent where it is absent on every day). :data:`TARGETS`
holds the ranges a Gulf-Stream-like ocean should reach (:func:`verdicts`), and
:func:`realism_report` does all of it for
``varnet-osse realism``: ``realism.json`` and the figure of :func:`plot_side_by_side`.

Geostrophy like DUACS
---------------------
The product's ``ugos``/``vgos`` are not the project's second-order centred differences of its
``adt``: on the real day of ``nrt_global_allsat_phy_l4_20190223_20190226.nc`` over
33-43 N, 65-55 W, those give a speed rms of 0.503 m s-1 and a maximum of 1.630 m s-1 against
the product's 0.5245 and 1.744 (second-order differences damp the shortest scales). The
fourth-order centred difference over five cells gives 0.5249 and 1.741 and halves the
cell-by-cell difference to the product's velocities (rms 0.022 m s-1 against 0.043), so
:func:`geostrophy_like_duacs` uses it where its five cells are valid, and the project's
second-order differences (:func:`varnet.kernels.finite_differences.geostrophic_velocity`,
with their one-sided stencils at edges and next to land, and their equatorial mask)
elsewhere.

The modules
-----------
:mod:`~varnet.osse.realism.box` (the box), :mod:`~varnet.osse.realism.nesting` (fine cells in
coarse cells), :mod:`~varnet.osse.realism.statistics` (one day's statistics, their summaries
and verdicts), :mod:`~varnet.osse.realism.sources` (reading the truth and a DUACS L4 file),
:mod:`~varnet.osse.realism.figure` (the figure) and :mod:`~varnet.osse.realism.report` (the
report of ``varnet-osse realism``).

No torch here.
"""

from __future__ import annotations

from varnet.osse.realism.box import Box
from varnet.osse.realism.figure import plot_side_by_side
from varnet.osse.realism.nesting import Nesting, nest
from varnet.osse.realism.report import format_table, realism_report
from varnet.osse.realism.sources import HALO_CELLS, read_duacs, read_truth_days
from varnet.osse.realism.statistics import (
    MIN_SPECTRUM_CELLS,
    SLOPE_BAND_KM,
    STATISTICS,
    TARGETS,
    Day,
    day_statistics,
    geostrophic_share,
    geostrophy_like_duacs,
    ke_spectrum,
    summarise,
    verdicts,
)

__all__ = [
    "HALO_CELLS",
    "MIN_SPECTRUM_CELLS",
    "SLOPE_BAND_KM",
    "STATISTICS",
    "TARGETS",
    "Box",
    "Day",
    "Nesting",
    "day_statistics",
    "format_table",
    "geostrophic_share",
    "geostrophy_like_duacs",
    "ke_spectrum",
    "nest",
    "plot_side_by_side",
    "read_duacs",
    "read_truth_days",
    "realism_report",
    "summarise",
    "verdicts",
]

"""The paper's score table on the test period, with maps and PSD score curves.

Rows: geostrophy of the true SSH, geostrophy of the OI, and every trained model given
(direct inversion and 4DVarNet, with and without SST). Each model reconstructs the test
period on its own grid (centre day of sliding windows), is interpolated back to the truth
grid, and all rows are scored on the truth grid cropped by ``crop_deg`` on every side (the
paper scores a 10 x 10 degree box inside its 12 x 12 degree training domain). Where the ocean
has land, the table is over its sea, and a second one over the sea beyond a coastal band
(:mod:`varnet.datamodel.scored_sea`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from varnet.datamodel.grid import Grid
from varnet.datamodel.scored_sea import DEFAULT_COASTAL_BAND_KM, ScoredSea, scored_seas
from varnet.errors import InputError
from varnet.io.ocean_mask import read_ocean_mask
from varnet.io.readers import read_truth
from varnet.kernels.finite_differences import (
    coriolis_parameter,
    geostrophic_velocity,
    relative_vorticity,
)
from varnet.regrid import upsample
from varnet.scores import (
    Fields,
    plot_psd_scores,
    psd_space_time_score,
    score_table,
    scored_currents,
    table_markdown,
)
from varnet.training.checkpoint import CheckpointError, LoadedModel, load_checkpoint
from varnet.training.data import PeriodArrays
from varnet.training.prepare import prepare_arrays
from varnet.training.reconstruct import reconstruct_period

log = logging.getLogger("varnet.training")

TRUE_GEOSTROPHY = "Geostrophy of true SSH"
OI_GEOSTROPHY = "OI geostrophy"
#: Row order of the table (models absent from an evaluation are skipped).
ROW_ORDER = (TRUE_GEOSTROPHY, OI_GEOSTROPHY, "Direct inversion SSH", "Direct inversion SSH-SST",
             "4DVarNet SSH", "4DVarNet SSH-SST")


def method_name(loaded: LoadedModel) -> str:
    """Table row name of a model: kind and inputs."""
    m = loaded.config.model
    kind = "4DVarNet" if m.kind == "4dvarnet" else "Direct inversion"
    return f"{kind} {'SSH-SST' if m.use_sst else 'SSH'}"


def find_checkpoints(path: str | os.PathLike[str]) -> list[Path]:
    """Checkpoints named by a path: a ``.pt`` file, a run directory (its
    ``checkpoints/best.pt``), or a directory of run directories or ``.pt`` files.

    Raises
    ------
    varnet.training.checkpoint.CheckpointError
        If the path holds no checkpoint (a :class:`ValueError` too).
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if (path / "checkpoints" / "best.pt").is_file():
        return [path / "checkpoints" / "best.pt"]
    found = sorted(p for p in path.glob("*.pt") if p.is_file())
    found += sorted(p / "checkpoints" / "best.pt" for p in path.iterdir()
                    if (p / "checkpoints" / "best.pt").is_file()) if path.is_dir() else []
    if not found:
        raise CheckpointError(f"{path}: no checkpoint there (expected a .pt file, a run "
                              "directory with checkpoints/best.pt, or a directory of those)")
    return found


@dataclass(frozen=True, eq=False)
class WrittenTable:
    """A score table and its files (markdown with a header, CSV)."""

    table: pd.DataFrame
    markdown: Path
    csv: Path


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Result of :func:`evaluate`: the tables and the files written.

    ``table``, ``markdown`` and ``csv`` are the table over all the sea; ``offshore`` the
    table over the sea beyond the coastal band, None on the open ocean or without a band.
    """

    table: pd.DataFrame
    markdown: Path
    csv: Path
    maps: Path
    psd: Path
    offshore: WrittenTable | None = None


def _evaluation_crop(patch: tuple[int, int], stride: tuple[int, int], crop: tuple[int, int],
                     shape: tuple[int, int]) -> tuple[int, int]:
    """Spatial zero-weight border for stitching: none when one patch spans the axis, else the
    training crop limited to half the overlap (so that every cell keeps some weight)."""
    return tuple(0 if p >= n else min(c, (p - s) // 2)
                 for p, s, c, n in zip(patch, stride, crop, shape, strict=True))


def arrays_for_test_period(loaded: LoadedModel, osse: Path, progress: bool) -> PeriodArrays:
    """A model's inputs and truth on its grid over its test period, plus half a window of
    margin on each side (so that every test day can be a window's centre day)."""
    d = loaded.config.data
    half = dt.timedelta(days=d.window_days // 2)
    start, end = d.test[0] - half, d.test[1] + half
    prepared = prepare_arrays(osse, d.coarsen, start, end, d.oi, missions=d.missions or None,
                              sst_level=d.sst_level, workers=d.prepare_workers,
                              progress=progress, ocean_mask=d.ocean_mask or None)
    return PeriodArrays.select(prepared, start, end)


def _speed_vorticity(u: np.ndarray, v: np.ndarray, lat: np.ndarray, lon: np.ndarray):
    zeta = relative_vorticity(u, v, lat, lon) / coriolis_parameter(lat)[:, None]
    return np.hypot(u, v), zeta


def plot_maps(rows: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], lat: np.ndarray,
              lon: np.ndarray, title: str, path: Path) -> None:
    """PNG: one row per method (SSH m, speed m s-1 with vectors, vorticity / f)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.9 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    truth_ssh, truth_u, truth_v = next(iter(rows.values()))
    ssh_lim = (np.nanpercentile(truth_ssh, 1), np.nanpercentile(truth_ssh, 99))
    speed_max = float(np.nanpercentile(np.hypot(truth_u, truth_v), 99.5))
    extent = (lon[0], lon[-1], lat[0], lat[-1])
    step = max(1, lat.size // 25)
    for r, (name, (ssh, u, v)) in enumerate(rows.items()):
        speed, zeta = _speed_vorticity(u, v, lat, lon)
        panels = (
            (ssh, "viridis", ssh_lim, "SSH (m)"),
            (speed, "magma", (0, speed_max), "speed (m s-1)"),
            (zeta, "RdBu_r", (-0.6, 0.6), "vorticity / f"),
        )
        for c, (field, cmap, lim, label) in enumerate(panels):
            ax = axes[r, c]
            im = ax.imshow(field, origin="lower", extent=extent, cmap=cmap, vmin=lim[0],
                           vmax=lim[1], interpolation="nearest", aspect="auto")
            if c == 1:
                ax.quiver(lon[::step], lat[::step], u[::step, ::step], v[::step, ::step],
                          color="white", scale=speed_max * 12, width=0.003)
            ax.set_title(f"{name}: {label}", fontsize=10)
            fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(title)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, path)


def _write_table(table: pd.DataFrame, sea: ScoredSea, header: str, out_dir: Path
                 ) -> WrittenTable:
    """Write ``table`` as ``scores{suffix}.md`` (``header``, the cells it covers, the table)
    and ``scores{suffix}.csv`` in ``out_dir``."""
    md_path = out_dir / f"scores{sea.suffix}.md"
    csv_path = out_dir / f"scores{sea.suffix}.csv"
    coverage = f"{sea.coverage}\n\n" if sea.coverage else ""
    md_path.write_text(header + coverage + table_markdown(table))
    table.to_csv(csv_path, float_format="%.6g")
    return WrittenTable(table, md_path, csv_path)


def evaluate(
    checkpoints: list[Path],
    out_dir: Path,
    osse: Path | None = None,
    crop_deg: float = 1.0,
    device: str = "cpu",
    progress: bool = True,
    ocean: np.ndarray | None = None,
    coastal_band_km: float = DEFAULT_COASTAL_BAND_KM,
) -> Evaluation:
    """Score trained models and the geostrophic baselines on the test period.

    Parameters
    ----------
    checkpoints : list of pathlib.Path
        Model checkpoints (one row each; two with the same method name are an error).
    out_dir : pathlib.Path
        Where ``scores.md``, ``scores.csv``, ``maps.png`` and ``psd_scores_u.png`` go; where
        the ocean has land, ``scores_offshore_{band}km.md`` and ``.csv`` too.
    osse : pathlib.Path, optional
        Synthetic ocean to evaluate on (default: the first model's ``data.osse``); another
        seed's ocean checks that the skill is not specific to the training ocean.
    crop_deg : float
        Border left out of the scores on every side, degrees.
    device : str
        Torch device for the models.
    progress : bool
        Show progress bars.
    ocean : numpy.ndarray of bool, shape (lat, lon) of the truth grid, optional
        True on sea cells: every score counts sea only (land rules of :mod:`varnet.scores`),
        in the table and in the spectral-score figure. Default: the truth's sea (cells whose
        SSH is ever defined) and the first model's ``data.ocean_mask``; an all-sea mask is
        the open-ocean table, unchanged.
    coastal_band_km : float, default 20
        Where the ocean has land, a second table scores the sea farther than this from land,
        km (:mod:`varnet.datamodel.scored_sea`); 0: no second table.

    Returns
    -------
    Evaluation
        The table and the paths written.

    Raises
    ------
    varnet.errors.InputError
        If there is no checkpoint, two are the same method, their test periods differ, or
        less than half the scored domain is sea beyond the coastal band (a
        :class:`ValueError` too); :class:`~varnet.training.checkpoint.CheckpointError` for a
        file that is not a checkpoint, :class:`~varnet.io.readers.InputFileError` for a
        truth file that cannot be read.
    """
    if not checkpoints:
        raise InputError("no checkpoint to evaluate")
    torch.set_flush_denormal(True)  # see varnet.training.train.runtime_for
    models = [load_checkpoint(p) for p in checkpoints]
    names = [method_name(m) for m in models]
    if len(set(names)) != len(names):
        raise InputError(f"two checkpoints are the same method ({', '.join(names)}); give one "
                         "checkpoint per method")
    test = models[0].config.data.test
    for m in models[1:]:
        if m.config.data.test != test:
            raise InputError(f"{m.path}: test period {m.config.data.test} differs from "
                             f"{models[0].path}'s {test}")
    osse = Path(osse or models[0].config.data.osse)
    truth_ds = read_truth(osse / "truth.nc")
    days = np.arange(np.datetime64(test[0], "D"), np.datetime64(test[1], "D") + 1)
    truth = truth_ds.sel(time=days + np.timedelta64(12, "h"))
    lat, lon = truth["lat"].values, truth["lon"].values
    n_crop = round(crop_deg / float(lat[1] - lat[0]))
    inner = (slice(None), slice(n_crop, lat.size - n_crop), slice(n_crop, lon.size - n_crop))
    mdt = truth["mdt"].values if truth["mdt"].ndim == 2 else truth["mdt"].values[0]
    true_ssh, true_u, true_v = (truth[k].values.astype(np.float64) for k in ("ssh", "u", "v"))
    if ocean is None:
        ocean = np.isfinite(true_ssh).any(axis=0)
        if models[0].config.data.ocean_mask:
            ocean &= read_ocean_mask(models[0].config.data.ocean_mask, lat, lon)
    seas = scored_seas(Grid(lat, lon, ocean, name=osse.name), n_crop, coastal_band_km)
    time_days = (days - days[0]).astype(np.float64)

    fields: dict[str, Fields] = {TRUE_GEOSTROPHY: Fields(ssh=true_ssh[inner])}
    maps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    mid = len(days) // 2
    maps["Truth"] = (true_ssh[mid], true_u[mid], true_v[mid])
    for loaded, name in zip(models, names, strict=True):
        arrays = arrays_for_test_period(loaded, osse, progress)
        d = loaded.config.data
        crop = _evaluation_crop(d.patch, d.stride, d.weight_crop[1:],
                                (arrays.lat.size, arrays.lon.size))
        loaded.model.to(device)
        log.info("reconstructing the test period with %s (%s)", name, loaded.path)
        ssh, u, v = reconstruct_period(loaded.model, arrays, d.patch, d.stride, crop,
                                       device=device, progress=progress)
        ssh, u, v = (upsample(f, arrays.lat, arrays.lon, lat, lon) for f in (ssh, u, v))
        ssh = ssh + mdt
        fields[name] = Fields(ssh=ssh[inner], u=u[inner], v=v[inner])
        if OI_GEOSTROPHY not in fields:
            half = d.window_days // 2
            oi = upsample(arrays.oi[half: arrays.ndays - half], arrays.lat, arrays.lon, lat,
                          lon) + mdt
            fields[OI_GEOSTROPHY] = Fields(ssh=oi[inner], ssh_sigma=4.0)
            ug, vg = geostrophic_velocity(oi[mid], lat, lon)
            maps["OI"] = (oi[mid], ug, vg)
        if name.startswith("4DVarNet"):
            maps[name] = (ssh[mid], u[mid], v[mid])
    ordered = {k: fields[k] for k in ROW_ORDER if k in fields}
    t_fields = Fields(ssh=true_ssh[inner], u=true_u[inner], v=true_v[inner])
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (f"Test period {test[0]} to {test[1]} ({len(days)} days), ocean {osse}, "
              f"domain cropped by {crop_deg} degree.\n\n")
    written = [
        _write_table(score_table(t_fields, ordered, lat[inner[1]], lon[inner[2]], time_days,
                                 ocean=s.sea, scored=s.ocean), s, header, out_dir)
        for s in seas
    ]
    sea = seas[0].ocean
    maps_path = out_dir / "maps.png"
    plot_maps(maps, lat, lon, f"{days[mid]} (test period, centre day)", maps_path)
    psd_path = out_dir / "psd_scores_u.png"
    psd = {}
    for name, f in ordered.items():
        u_rec, _, u_sea = scored_currents(f, lat[inner[1]], lon[inner[2]], ocean=sea)
        psd[name] = psd_space_time_score(u_rec, true_u[inner], time_days, lon[inner[2]],
                                         ocean=u_sea)
    plot_psd_scores(psd, psd_path)
    main = written[0]
    return Evaluation(main.table, main.markdown, main.csv, maps_path, psd_path,
                      offshore=written[1] if len(written) > 1 else None)


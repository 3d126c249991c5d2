"""Generate the synthetic ocean: truth, along-track altimetry, SST files, diagnostics, quicklook.

Output layout under ``out_dir``::

    truth.nc                  daily truth (ssh, sla, mdt, u, v and their parts, sst)
    alongtrack/*.nc           CMEMS-L3-like along-track SSH, one file per mission and day
    sst/l4/*.nc               GHRSST-L4-like gap-free SST, one file per day
    sst/l3/*.nc               GHRSST-L3S-like cloudy SST, one file per day (if enabled)
    diagnostics.json          realism diagnostics (see varnet.osse.diagnostics)
    quicklook.png             one day of truth and tracks
    osse_config.json          the configuration used

Every file is written atomically; a rerun with the same configuration and seed gives
identical files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from varnet import __version__
from varnet.config import to_mapping
from varnet.errors import EXIT_CONFIG, VarnetError
from varnet.io.names import (
    alongtrack_filename,
    ghrsst_filename,
    parse_alongtrack_filename,
    parse_ghrsst_filename,
)
from varnet.io.writers import write_alongtrack, write_sst
from varnet.osse.altimetry import GriddedTruth, TrackDay, simulate_track_day
from varnet.osse.clouds import CloudSimulator
from varnet.osse.coast import ocean_on_grid
from varnet.osse.config import OsseConfig
from varnet.osse.diagnostics import OsseDiagnostics
from varnet.osse.geometry import PlaneMapping
from varnet.osse.jet import JetProfile
from varnet.osse.orbits import MISSIONS
from varnet.osse.quicklook import plot_quicklook
from varnet.osse.spinup import DAY_S, load_state, make_model, model_parameters
from varnet.osse.truth import TruthDay, TruthSampler
from varnet.osse.truth_file import TruthWriter

log = logging.getLogger(__name__)
SOURCE = f"varnet {__version__} synthetic ocean (OSSE)"


class OceanBlewUp(VarnetError, FloatingPointError):
    """The quasi-geostrophic model became non-finite: its time step is too long for the
    configured flow (exit code 2: a configuration to change)."""

    exit_code = EXIT_CONFIG
    what = "synthetic ocean"


@dataclass
class OsseProducts:
    """What :func:`generate` wrote.

    Attributes
    ----------
    out_dir : Path
    truth : Path
    alongtrack : list of Path
    sst_l4, sst_l3 : list of Path
    diagnostics : Path
    quicklook : Path
    summary : dict
        The diagnostics.
    timings_s : dict
        Wall time of each stage, s.
    """

    out_dir: Path
    truth: Path
    alongtrack: list[Path] = field(default_factory=list)
    sst_l4: list[Path] = field(default_factory=list)
    sst_l3: list[Path] = field(default_factory=list)
    diagnostics: Path | None = None
    quicklook: Path | None = None
    summary: dict = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


def grid_coordinates(config: OsseConfig) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (degrees) of the product grid's cell centres."""
    grid = config.grid.grid()
    return np.array(grid.lat), np.array(grid.lon)


def _quicklook_day(config: OsseConfig) -> dt.date:
    periods = config.calendar.periods
    if "test" in periods:
        return periods["test"][0]
    days = config.calendar.days
    return days[len(days) // 2]


def _observed_fraction(tracks: list[TrackDay], lat: np.ndarray, lon: np.ndarray,
                       ocean: np.ndarray) -> float:
    """Share of the grid's sea cells holding at least one of the tracks' samples."""
    res_lat, res_lon = lat[1] - lat[0], lon[1] - lon[0]
    cells = set()
    for track in tracks:
        i = np.clip(np.round((track.latitude - lat[0]) / res_lat), 0, lat.size - 1)
        j = np.clip(np.round((track.longitude - lon[0]) / res_lon), 0, lon.size - 1)
        cells.update((i * lon.size + j).astype(np.int64).tolist())
    return len(cells) / int(np.count_nonzero(ocean))


def _write_sst_day(config: OsseConfig, out_dir: Path, day: dt.date, lat: np.ndarray,
                   lon: np.ndarray, sst: np.ndarray, clouds: CloudSimulator | None,
                   ocean: np.ndarray, products: OsseProducts) -> None:
    ordinal = day.toordinal()
    l4 = sst
    if config.sst.l4_noise_k > 0:
        rng = np.random.default_rng([config.seed, 102, ordinal])
        l4 = sst + config.sst.l4_noise_k * rng.standard_normal(sst.shape)
    products.sst_l4.append(write_sst(  # the GHRSST mask: water (1) on sea, land (2) on land
        out_dir / "sst" / "l4" / ghrsst_filename(day, "L4"), day=day, lat=lat, lon=lon,
        sst_k=l4, level="L4", mask=ocean, source=SOURCE))
    if clouds is not None:
        rng = np.random.default_rng([config.seed, 103, ordinal])
        l3 = sst + config.sst.l3_noise_k * rng.standard_normal(sst.shape)
        l3[clouds.next_day(day)] = np.nan
        products.sst_l3.append(write_sst(
            out_dir / "sst" / "l3" / ghrsst_filename(day, "L3S"), day=day, lat=lat, lon=lon,
            sst_k=l3, level="L3S", mask=None if ocean.all() else ocean, source=SOURCE))


def generate(config: OsseConfig, out_dir: str | Path, progress: bool = True) -> OsseProducts:
    """Run the synthetic ocean and its satellites; write every file of the OSSE.

    Parameters
    ----------
    config : OsseConfig
        The configuration (validated).
    out_dir : str or Path
        Output folder (created if needed); existing files of the same names are replaced
        atomically.
    progress : bool
        Show progress bars.

    Returns
    -------
    OsseProducts
        Paths of everything written, the diagnostics and stage timings.
    """
    out_dir = Path(out_dir)
    for sub in ("alongtrack", "sst/l4", "sst/l3"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    lat, lon = grid_coordinates(config)
    params = model_parameters(config)
    mapping = PlaneMapping.for_config(config)
    q0, sst0 = load_state(config, params)
    model = make_model(config, params, q0, sst0)
    ocean = ocean_on_grid(config.coast, lat, lon)
    sampler = TruthSampler(mapping, lat, lon, params.nx, config.ocean.mean_flow_m_s,
                           config.sst.reference_k, params.sst_gradient_k_per_m,
                           jet=JetProfile.for_config(config, mapping), ocean=ocean)
    diagnostics = OsseDiagnostics(lat, lon, sampler.sst_background, ocean=ocean)
    clouds = None
    if config.sst.write_l3:
        clouds = CloudSimulator(lat, lon, config.sst.cloud_fraction,
                                config.sst.cloud_fraction_seasonal_amplitude,
                                config.sst.cloud_scale_km, config.sst.cloud_decorrelation_days,
                                np.random.default_rng([config.seed, 101]))
    days = config.calendar.days
    quicklook_day = _quicklook_day(config)
    quicklook_fields: TruthDay | None = None
    sla = np.empty((len(days), lat.size, lon.size), dtype=np.float32)
    products = OsseProducts(out_dir=out_dir, truth=out_dir / "truth.nc")
    attrs = {
        "osse_seed": config.seed,
        "osse_config": json.dumps(to_mapping(config), sort_keys=True),
        "coriolis_f0_per_s": params.f0, "beta_per_m_per_s": params.beta,
        "reference_latitude_deg": mapping.lat0_deg,
        "time_coverage_start": days[0].isoformat(), "time_coverage_end": days[-1].isoformat(),
        **{f"period_{name}": f"{a.isoformat()}/{b.isoformat()}"
           for name, (a, b) in config.calendar.periods.items()},
    }

    started = time.perf_counter()
    steps_to_noon = round(0.5 * DAY_S / params.dt_s)
    with TruthWriter(products.truth, lat, lon, sampler.mdt, attrs) as writer:
        bar = tqdm(days, desc="truth ocean", unit="day", disable=not progress)
        for i, day in enumerate(bar):
            model.step(steps_to_noon if i == 0 else 2 * steps_to_noon)
            fields = sampler(model)
            if not np.all(np.isfinite(fields.ssh[ocean])):
                raise OceanBlewUp(f"the QG model blew up on {day}: non-finite SSH; "
                                         "reduce ocean.time_step_s")
            writer.append(day, fields)
            sla[i] = fields.sla
            diagnostics.add_day(fields)
            _write_sst_day(config, out_dir, day, lat, lon, fields.sst, clouds, ocean, products)
            if day == quicklook_day:
                quicklook_fields = fields
    products.timings_s["truth_and_sst"] = time.perf_counter() - started

    started = time.perf_counter()
    truth = GriddedTruth(days[0], lat, lon, sla, sampler.mdt)
    missions = [MISSIONS[name] for name in config.altimetry.missions]
    quicklook_tracks = []
    latency = dt.timedelta(days=config.altimetry.latency_days)
    bar = tqdm(days, desc="satellites", unit="day", disable=not progress)
    for day in bar:
        tracks = [simulate_track_day(truth, m, day, config.altimetry, config.seed)
                  for m in missions]
        for track in tracks:
            name = alongtrack_filename(config.altimetry.product, track.mission.short_name,
                                       day, day + latency)
            products.alongtrack.append(write_alongtrack(
                out_dir / "alongtrack" / name, time=track.time, longitude=track.longitude,
                latitude=track.latitude, sla_unfiltered=track.sla_unfiltered,
                sla_filtered=track.sla_filtered, mdt=track.mdt,
                mission=track.mission.short_name, product=config.altimetry.product,
                production_day=day + latency, source=SOURCE))
            diagnostics.add_observed_fraction(track.mission.short_name,
                                              _observed_fraction([track], lat, lon, ocean))
        diagnostics.add_observed_fraction("all", _observed_fraction(tracks, lat, lon, ocean))
        if day == quicklook_day:
            quicklook_tracks = [(t.mission.short_name, t.longitude, t.latitude,
                                 t.sla_filtered) for t in tracks]
    products.timings_s["satellites"] = time.perf_counter() - started

    started = time.perf_counter()
    summary = diagnostics.summary()
    products.summary = summary
    products.diagnostics = out_dir / "diagnostics.json"
    _write_json(products.diagnostics, summary)
    _write_json(out_dir / "osse_config.json", to_mapping(config))
    if quicklook_fields is not None:
        products.quicklook = plot_quicklook(out_dir / "quicklook.png", quicklook_day, lat, lon,
                                            quicklook_fields, quicklook_tracks, summary)
    products.timings_s["diagnostics"] = time.perf_counter() - started
    _remove_stale(products)
    return products


def _remove_stale(products: OsseProducts) -> None:
    """Delete observation files of an earlier run that this run did not write.

    Only files in the OSSE's own sub-folders whose names follow the along-track or GHRSST
    conventions are touched, so that a rerun with a shorter calendar into the same folder does
    not leave days that readers would silently pick up.
    """
    written = {p.resolve() for p in products.alongtrack + products.sst_l4 + products.sst_l3}
    stale = []
    for sub, parse in (("alongtrack", parse_alongtrack_filename),
                       ("sst/l4", parse_ghrsst_filename), ("sst/l3", parse_ghrsst_filename)):
        for path in sorted((products.out_dir / sub).glob("*.nc")):
            try:
                parse(path.name)
            except ValueError:
                continue
            if path.resolve() not in written:
                stale.append(path)
    for path in stale:
        path.unlink()
    if stale:
        log.warning("removed %d observation files of an earlier run from %s", len(stale),
                    products.out_dir)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)

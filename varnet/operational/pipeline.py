"""The daily product of day D: archived files -> model inputs -> ONNX Runtime -> CF product.

Stages, each timed (seconds, stored in the ledger and the product's log line):

* **read**: the along-track files of the OI's reach around the window and the SST files of
  the window, as the ledger lists them (status ``ok``: ingested and validated);
* **grid**: the same observation kinds and assembler as training
  (:func:`varnet.datamodel.assemble.assemble_inputs`): daily cell means of the
  along-track SLA, the OI first guess with the model's own OI parameters (from its metadata),
  SST on the model grid; along-track points in land cells are dropped, every field is NaN on
  land (the model's first guess is 0 there:
  :attr:`~varnet.datamodel.kinds.ObservationKind.land_fill`);
* **infer**: spatial patches of the window, batched through ONNX Runtime, streamed (only one
  batch of patches is held at a time);
* **stitch**: the centre day of every patch blended with a positive, smoothly tapered weight,
  so overlaps favour patch interiors and the domain's edges stay covered; then NaN on land
  (blending is cell by cell: a land cell never spreads into a sea cell);
* **derive**: the mean dynamic topography (MDT; a configured file, else estimated from the
  along-track inputs' ``mdt``, see :mod:`varnet.operational.mdt`), the absolute dynamic
  topography, geostrophy of the SLA and of the ADT, vorticity, divergence and strain;
* **write**: the CF NetCDF product (atomic) and the ``latest/`` link; a final of another
  production day that this one replaces (``--force``, or a stale final made again) is moved
  to ``replaced/`` beside it, so the folder has one file saying ``final`` per day;
* **quicklook**: the PNG picture of the product, drawn once the product is written; a
  quicklook that cannot be drawn is logged and never fails the product.

A window may miss days of observations (the model is trained with gaps); those days are
recorded in the product. A window without any along-track observation is a failure for that
day (:class:`NoInputError`), never an empty map.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from varnet.config import ConfigError
from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.assemble import assemble_inputs as assemble_model_inputs
from varnet.datamodel.grid import Grid
from varnet.datamodel.gridding import sea_points
from varnet.datamodel.kinds import GriddingOptions, KindOptions, ObservationFile, choose
from varnet.datamodel.variables import MODEL_VARIABLES
from varnet.errors import VarnetError
from varnet.io.missions import platform_name
from varnet.io.readers import AlongTrack, concat_alongtrack, read_alongtrack
from varnet.kernels.oi import OIConfig
from varnet.kernels.patches import PatchLayout, PatchStitcher
from varnet.operational.config import OpsConfig
from varnet.operational.derived import derive_fields
from varnet.operational.ledger import InputRecord, Ledger
from varnet.operational.mdt import (
    NO_MDT,
    Mdt,
    TrackMdtCells,
    mdt_from_cells,
    read_mdt_file,
    track_mdt_cells,
)
from varnet.operational.products import (
    ProductProvenance,
    file_sha256,
    update_latest_link,
    write_product,
)
from varnet.operational.quicklook import write_quicklook
from varnet.operational.tidy import tidy_day
from varnet.runtime.metadata import ModelMetadata, ModelMismatch
from varnet.runtime.onnx_model import OnnxModel

log = logging.getLogger("varnet.ops.product")

__all__ = [
    "NoInputError",
    "Producer",
    "ProductInputs",
    "build_inputs",
    "reconstruct_day",
    "window_days",
]


class NoInputError(VarnetError, RuntimeError):
    """No observation at all for a product day's window: no product is made."""


def _no_mdt(inputs: ProductInputs) -> str:
    """``mdt_source`` of a product without MDT: why there is none."""
    if inputs.track_mdt is None:
        return NO_MDT
    return (f"none: no MDT file configured (production.mdt) and the along-track inputs' mdt "
            f"falls in only {len(inputs.track_mdt)} cells of the product grid, too few or all "
            "on one line to interpolate between; adt, ugos and vgos are not written")


@dataclass(frozen=True, eq=False)
class ProductInputs:
    """Model inputs of one window on the product grid.

    Attributes
    ----------
    days : list of datetime.date
        The T days of the window; the product day is the centre one.
    fields : dict of str to numpy.ndarray
        The model's inputs by graph name (:func:`varnet.datamodel.assemble.assemble_inputs`),
        and ``sst`` in any case, float32 (T, nlat, nlon): the standard ``oi`` (OI SLA, m, 0
        on land), ``obs`` (gridded along-track SLA, m, NaN where not observed), ``sst`` (K,
        NaN where missing).
    files : list of InputRecord
        Every input file read.
    days_without_observations : list of datetime.date
        Window days without any along-track point over the region's sea.
    days_without_sst : list of datetime.date
        Window days with no SST file.
    alongtrack_points : list of int
        Along-track points over the region's sea on each day of the window.
    sst_coverage : list of float
        Fraction of the grid's cells with an SST value on each day of the window.
    track_mdt : TrackMdtCells or None
        The along-track files' MDT, binned on the grid
        (:func:`varnet.operational.mdt.track_mdt_cells`); None where they carry none.
    """

    days: list[dt.date]
    fields: dict[str, np.ndarray]
    files: list[InputRecord]
    days_without_observations: list[dt.date]
    days_without_sst: list[dt.date]
    alongtrack_points: list[int] = field(default_factory=list)
    sst_coverage: list[float] = field(default_factory=list)
    track_mdt: TrackMdtCells | None = None

    @property
    def observations(self) -> tuple[tuple[dt.date, int, float], ...]:
        """``(day, along-track points over the region's sea, SST coverage)`` for each window day."""
        return tuple(zip(self.days, self.alongtrack_points, self.sst_coverage, strict=True))

    @property
    def platforms(self) -> tuple[str, ...]:
        """Platform names of the altimetry missions of the along-track files, sorted."""
        return tuple(sorted({platform_name(r.mission) for r in self.files
                             if r.kind == "alongtrack" and r.mission}, key=str.lower))


class AlongTrackReader:
    """Reads along-track files, keeping those of the last request in memory.

    The product of day D reads the files of D ± (3 + the OI's reach) days: about 40 days of
    files, of which consecutive product days share all but one. Entries are keyed by path and
    SHA-256 (a replaced file is read again) and only the last request's files are kept, so
    memory stays at one window's worth of points.
    """

    def __init__(self) -> None:
        self._tracks: dict[tuple[str, str], AlongTrack] = {}

    def read(self, records: Sequence[InputRecord]) -> AlongTrack:
        """All points of ``records``' files, in time order (as
        :func:`varnet.datamodel.files.read_alongtrack_files`)."""
        keys = [(r.path, r.sha256) for r in records]
        tracks = {k: self._tracks[k] if k in self._tracks else read_alongtrack(k[0])
                  for k in keys}
        self._tracks = tracks
        return concat_alongtrack([tracks[k] for k in keys])


def window_days(day: dt.date, window: int) -> list[dt.date]:
    """The ``window`` days centred on ``day`` (``window // 2`` on each side)."""
    half = window // 2
    return [day + dt.timedelta(days=k - half) for k in range(window)]


def oi_reach_days(oi: OIConfig) -> int:
    """Days of along-track data the OI of one day uses on each side (as training prepares)."""
    return math.ceil(oi.cutoff * oi.time_scale_days + oi.superob_days) + 1


def model_oi_config(metadata: ModelMetadata) -> OIConfig:
    """The OI parameters the model was trained with (its metadata's configuration)."""
    from varnet.config import from_mapping

    return from_mapping(OIConfig, metadata.config["data"]["oi"], prefix="data.oi")


def select_inputs(
    ledger: Ledger,
    metadata: ModelMetadata,
    day: dt.date,
    missions: Sequence[str] = (),
    sst_levels: Sequence[str] = ("L4", "L3S", "L3C", "L3U"),
) -> tuple[tuple[InputRecord, ...], tuple[InputRecord, ...]]:
    """The archived files the product of ``day`` reads, as the ledger lists them.

    Each kind the model reads (along-track, SST) says which data days its files must cover
    (:meth:`~varnet.datamodel.kinds.ObservationKind.file_days`: along-track, the window and
    the OI's reach around it) and which of them the model uses
    (:func:`~varnet.datamodel.kinds.choose`: the newest production of each mission and day;
    the most preferred SST level of each day).

    Parameters
    ----------
    ledger : Ledger
        Lists the archived, validated files (status ``ok``).
    metadata : ModelMetadata
        The model's window length and OI parameters.
    day : datetime.date
        Product day.
    missions : sequence of str
        Along-track missions to use (all when empty).
    sst_levels : sequence of str
        GHRSST levels, most preferred first.

    Returns
    -------
    tuple
        The along-track files of the window and the OI's reach around it, and the SST file
        of each window day that has one (the most preferred level).

    Raises
    ------
    NoInputError
        If no along-track file covers any day of the window.
    """
    days = window_days(day, metadata.window_days)
    oi = model_oi_config(metadata)
    options = KindOptions(missions=tuple(missions), sst_levels=tuple(sst_levels))
    chosen: dict[str, tuple[InputRecord, ...]] = {}
    for kind in (observation_kinds.get("alongtrack"), observation_kinds.get("sst")):
        first, last = kind.file_days(days, oi)
        records = ledger.inputs_for_days(first, last, kind=kind.name)
        chosen[kind.name] = tuple(choose(kind, records, options,
                                         file_of=ObservationFile.from_record).chosen)
    tracks = chosen["alongtrack"]
    if not any(days[0] <= r.data_day <= days[-1] for r in tracks):
        raise NoInputError(f"product day {day}: no along-track file for any day of its window "
                           f"{days[0]} to {days[-1]}; nothing to map")
    return tracks, chosen["sst"]


def assemble_inputs(
    tracks: Sequence[InputRecord],
    ssts: Sequence[InputRecord],
    grid: Grid,
    metadata: ModelMetadata,
    day: dt.date,
    timings: dict[str, float] | None = None,
    oi_cache: Path | None = None,
    track_reader: AlongTrackReader | None = None,
    threads: int = 1,
    min_quality_level: int = 4,
    min_observations: int = 1,
) -> ProductInputs:
    """Read and grid the inputs of the window centred on ``day`` from the files chosen by
    :func:`select_inputs` (no ledger needed: a Dask worker runs this).

    Parameters
    ----------
    tracks, ssts : sequence of InputRecord
        The along-track files and the SST files (one per window day at most) to read.
    grid : Grid
        The product grid.
    metadata : ModelMetadata
        The model's window length and OI parameters.
    day : datetime.date
        Product day.
    timings : dict, optional
        Receives ``read`` and ``grid`` seconds.
    oi_cache : pathlib.Path, optional
        Folder of cached OI days (:func:`varnet.datamodel.gridding.cached_oi_first_guess`);
        no cache when None.
    track_reader : AlongTrackReader, optional
        Keeps the files of the previous call in memory (consecutive product days share most
        of their along-track files); each file is read afresh when None.
    threads : int, default 1
        Threads solving the OI's blocks (the result does not depend on it).
    min_quality_level : int, default 4
        SST pixels whose GHRSST ``quality_level`` is below this are not used (0..5).
    min_observations : int, default 1
        Fewest along-track points over the region's sea in the window for a product to be
        made; fewer is a :class:`NoInputError`, never a map made from the model alone.

    Returns
    -------
    ProductInputs

    Raises
    ------
    NoInputError
        If the along-track points over the region's sea are fewer than ``min_observations``.
    """
    timings = {} if timings is None else timings
    days = window_days(day, metadata.window_days)
    started = time.perf_counter()
    tracks = list(tracks)
    by_day = {r.data_day: r for r in ssts}
    track = sea_points((track_reader or AlongTrackReader()).read(tracks), grid)
    points = points_in_region(track, grid, days)
    if sum(points) < min_observations:
        raise NoInputError(
            f"product day {day}: {sum(points)} along-track point(s) over the sea of the "
            f"region ({grid.extent()}) over its window {days[0]} to {days[-1]}, fewer than "
            f"production.min_observations = {min_observations}: the {len(tracks)} file(s) of "
            "the window's reach have no point there; nothing to map")
    sst_kind = observation_kinds.get("sst")
    options = KindOptions(sst_min_quality_level=min_quality_level)
    read = {"alongtrack": [track],
            "sst": [sst_kind.read(Path(by_day[d].path), options) for d in days if d in by_day]}
    timings["read"] = time.perf_counter() - started
    started = time.perf_counter()
    gridding = GriddingOptions(oi=model_oi_config(metadata), threads=threads,
                               error_variance=False, oi_cache=oi_cache)
    fields = assemble_model_inputs(metadata.model_signature.inputs, read, grid, days, gridding,
                                   also=[("sst", "sst")])
    timings["grid"] = time.perf_counter() - started
    return ProductInputs(
        days=days, fields=fields, files=[*tracks, *ssts],
        days_without_observations=[d for d, n in zip(days, points, strict=True) if n == 0],
        days_without_sst=[d for d in days if d not in by_day],
        alongtrack_points=points,
        sst_coverage=[float(np.isfinite(field).mean()) for field in fields["sst"]],
        track_mdt=track_mdt_cells(track, grid.lat, grid.lon),
    )


def build_inputs(
    ledger: Ledger,
    grid: Grid,
    metadata: ModelMetadata,
    day: dt.date,
    missions: Sequence[str] = (),
    sst_levels: Sequence[str] = ("L4", "L3S", "L3C", "L3U"),
    timings: dict[str, float] | None = None,
    **assemble: object,
) -> ProductInputs:
    """:func:`select_inputs` then :func:`assemble_inputs` (``assemble``: its keywords).

    Raises
    ------
    NoInputError
        If no along-track file covers any day of the window, or their points inside the
        region are fewer than ``min_observations``.
    """
    timings = {} if timings is None else timings
    started = time.perf_counter()
    tracks, ssts = select_inputs(ledger, metadata, day, missions, sst_levels)
    selected = time.perf_counter() - started
    inputs = assemble_inputs(tracks, ssts, grid, metadata, day, timings, **assemble)
    timings["read"] += selected
    return inputs


def points_in_region(track: AlongTrack, grid: Grid, days: Sequence[dt.date]) -> list[int]:
    """Along-track points inside the grid's cells on each of ``days`` (consecutive).

    Parameters
    ----------
    track : AlongTrack
        Along-track points (longitudes in [-180, 180)).
    grid : Grid
        The product grid; a point counts when it falls in one of its cells.
    days : sequence of datetime.date
        Consecutive days (UTC).

    Returns
    -------
    list of int
        Points per day.
    """
    half_lat = 0.5 * abs(float(grid.lat[1] - grid.lat[0])) if grid.lat.size > 1 else 0.0
    half_lon = 0.5 * abs(float(grid.lon[1] - grid.lon[0])) if grid.lon.size > 1 else 0.0
    lon = np.mod(track.longitude - (grid.lon[0] - half_lon), 360.0) + (grid.lon[0] - half_lon)
    inside = ((track.latitude >= grid.lat[0] - half_lat)
              & (track.latitude < grid.lat[-1] + half_lat)
              & (lon < grid.lon[-1] + half_lon))
    start = np.datetime64(days[0].isoformat(), "ns")
    index = (track.time - start) // np.timedelta64(1, "D")
    inside &= (index >= 0) & (index < len(days))
    return np.bincount(index[inside].astype(np.int64), minlength=len(days)).tolist()


def _taper(size: int) -> np.ndarray:
    """Positive weight across a patch, 1 in the middle, small at the edges."""
    return np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2


def patch_shape(metadata: ModelMetadata, domain: tuple[int, int]) -> tuple[int, int]:
    """The model's patch (H, W), reduced where the domain is smaller, multiples kept."""
    multiple = metadata.spatial_multiple
    shape = []
    for trained, size in zip(metadata.patch[1:], domain, strict=True):
        side = min(trained, size) // multiple * multiple
        if side < multiple:
            raise ValueError(f"domain of {domain} cells is smaller than the model's spatial "
                             f"multiple {multiple}")
        shape.append(side)
    return shape[0], shape[1]


def _patch_batches(inputs: ProductInputs, names: Sequence[str], layout: PatchLayout,
                   batch: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    origins = layout.origins()
    _, ph, pw = layout.patch
    for start in range(0, len(origins), batch):
        chunk = origins[start:start + batch]
        yield chunk, {n: np.stack([inputs.fields[n][:, y:y + ph, x:x + pw]
                                   for _, y, x in chunk]) for n in names}


def reconstruct_day(model: OnnxModel, inputs: ProductInputs,
                    timings: dict[str, float] | None = None, *,
                    ocean: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The model's sea level anomaly (m) and current (m s-1) of the window's centre day,
    stitched.

    Parameters
    ----------
    model : OnnxModel
        The exported model.
    inputs : ProductInputs
        The window's inputs on the product grid.
    timings : dict, optional
        Receives ``infer`` and ``stitch`` seconds.
    ocean : numpy.ndarray of bool, shape (nlat, nlon), optional
        True on sea cells; the outputs are NaN on land. All sea when None.

    Returns
    -------
    dict of str to numpy.ndarray
        Every output of the model under the name of its product variable (its signature,
        :attr:`~varnet.runtime.metadata.ModelMetadata.model_signature`: the standard ``ssh``,
        ``u``, ``v`` are ``sla``, ``uo``, ``vo``), float64 (nlat, nlon); NaN on land.
    """
    timings = {} if timings is None else timings
    metadata = model.metadata
    window = metadata.window_days
    domain = next(iter(inputs.fields.values())).shape[1:]
    ph, pw = patch_shape(metadata, domain)
    overlap_y, overlap_x = ph // 4, pw // 4
    layout = PatchLayout((1, *domain), (1, ph, pw), (1, max(ph - overlap_y, 1),
                                                     max(pw - overlap_x, 1)))
    weight = np.outer(_taper(ph), _taper(pw))[None]
    infer = stitch = 0.0
    centre = window // 2
    signature = metadata.model_signature
    outputs = signature.output_names
    stitcher = PatchStitcher((1, *domain), weight, leading=(len(outputs),))
    for origins, feed in _patch_batches(inputs, signature.input_names, layout,
                                        model.batch_size):
        started = time.perf_counter()
        out = model.run(feed)
        infer += time.perf_counter() - started
        started = time.perf_counter()
        patches = np.stack([out[n][:, centre] for n in outputs], axis=1)[:, :, None]
        stitcher.add_batch(origins, patches)
        stitch += time.perf_counter() - started
    started = time.perf_counter()
    result = stitcher.result()[:, 0]
    if ocean is not None and not ocean.all():
        result[:, ~ocean] = np.nan
    stitch += time.perf_counter() - started
    timings["infer"], timings["stitch"] = infer, stitch
    return {signature.variable_of(name): result[k] for k, name in enumerate(outputs)}


#: What happened to a product day: made (``ok``, ``final``), already final (``up-to-date``),
#: ``failed``, held by another process (``busy``), or left by a run asked to stop
#: (``stopped``).
DAY_STATUSES = ("ok", "final", "up-to-date", "failed", "busy", "stopped")


def _holder(ledger: Ledger, day: dt.date) -> str:
    """Who holds the claim on ``day``: ``"pid 123 on host1 (since 2024-...)"``."""
    for claim in ledger.claims():
        if claim.product_day == day:
            return f"pid {claim.pid} on {claim.host} (since {claim.claimed_at})"
    return "another process (its claim was released since)"


@dataclass
class DayResult:
    """What happened to one product day (``status`` one of :data:`DAY_STATUSES`)."""

    day: dt.date
    status: str
    path: Path | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DayJob:
    """What making one product needs besides the configuration, chosen by the process that
    holds the ledger (:meth:`Producer.begin`); picklable, so a Dask worker on another host
    makes it without ever opening the ledger.

    Attributes
    ----------
    day, production_day : datetime.date
        Product day and production day (UTC).
    final : bool
        Whether this issue is the final one of its day.
    tracks, ssts : tuple of InputRecord
        The files to read (:func:`select_inputs`), with their SHA-256.
    production_time : datetime.datetime or None
        ``date_created`` of the file (None: the time it is written).
    """

    day: dt.date
    production_day: dt.date
    final: bool
    tracks: tuple[InputRecord, ...]
    ssts: tuple[InputRecord, ...]
    production_time: dt.datetime | None = None


@dataclass(frozen=True)
class MadeProduct:
    """What a :class:`ProductMaker` made of a :class:`DayJob`, for the ledger.

    Attributes
    ----------
    path : pathlib.Path
        The product file (its quicklook beside it, ``.png``, unless drawing failed).
    inputs_used : tuple of InputRecord
        The files read.
    window : tuple of datetime.date
        First and last data day whose files can change it (window and OI reach).
    timings : dict
        Seconds per stage.
    """

    path: Path
    inputs_used: tuple[InputRecord, ...]
    window: tuple[dt.date, dt.date]
    timings: dict[str, float]


class ProductMaker:
    """Makes the product file of a :class:`DayJob`: reads, grids, infers, derives, writes the
    file (atomically) and its quicklook. No ledger: the process holding it records the result
    (:meth:`Producer.record`), so this runs anywhere the archive, the model and the product
    folder are reachable, e.g. on a Dask worker.

    Parameters
    ----------
    config : OpsConfig
        The operations configuration.
    oi_cache : pathlib.Path, optional
        Folder of cached OI days (:func:`varnet.datamodel.gridding.cached_oi_first_guess`);
        None computes every OI.

    Raises
    ------
    varnet.runtime.metadata.ModelMismatch
        If the model does not fit the configuration (grid, window, inputs), naming the field.
    varnet.config.ConfigError
        If the configured MDT file (``production.mdt``) cannot be used, naming the key and
        the file (:func:`varnet.operational.mdt.read_mdt_file`).
    """

    def __init__(self, config: OpsConfig, oi_cache: Path | None = None) -> None:
        self.config = config
        self.oi_cache = oi_cache
        self.model = OnnxModel(config.model.path, config.model.provider,
                               threads=config.model.threads,
                               batch_size=config.model.batch_size)
        self.grid = config.grid()
        metadata = self.model.metadata
        metadata.require_fit(config.model.path, grid=self.grid, inputs=["oi", "obs", "sst"])
        made = metadata.model_signature
        missing = [v for v in MODEL_VARIABLES if v not in {o.variable for o in made.outputs}]
        if missing:
            raise ModelMismatch(config.model.path, "signature.outputs",
                                f"the model makes {[o.variable for o in made.outputs]}, not "
                                f"{missing}: a product needs {list(MODEL_VARIABLES)}")
        self.model_sha256 = file_sha256(config.model.path)
        self.track_reader = AlongTrackReader()
        #: The configured MDT on the product grid; None: estimated from each day's inputs.
        self.mdt: Mdt | None = (read_mdt_file(config.production.mdt, self.grid.lat,
                                              self.grid.lon)
                                if config.production.mdt else None)

    def product_mdt(self, inputs: ProductInputs) -> Mdt | None:
        """The MDT of a product: the configured file's, else the along-track estimate of its
        inputs (:func:`varnet.operational.mdt.mdt_from_cells`), else None."""
        if self.mdt is not None:
            return self.mdt
        files = sum(r.kind == "alongtrack" for r in inputs.files)
        return mdt_from_cells(inputs.track_mdt, self.grid.lat, self.grid.lon,
                              what=f"the {files} along-track input files")

    def make(self, job: DayJob, timings: dict[str, float] | None = None) -> MadeProduct:
        """Make the product file of ``job`` (and its quicklook).

        Parameters
        ----------
        job : DayJob
            The day and its files.
        timings : dict, optional
            Receives the seconds of each stage as they end (also in the result).

        Returns
        -------
        MadeProduct

        Raises
        ------
        NoInputError
            If the window has fewer along-track points over the region's sea than
            ``production.min_observations``.
        """
        config, day = self.config, job.day
        production = config.production
        timings = {} if timings is None else timings
        inputs = assemble_inputs(job.tracks, job.ssts, self.grid, self.model.metadata, day,
                                 timings, oi_cache=self.oi_cache,
                                 track_reader=self.track_reader, threads=config.model.threads,
                                 min_quality_level=production.sst_min_quality_level,
                                 min_observations=production.min_observations)
        fields = reconstruct_day(self.model, inputs, timings, ocean=self.grid.ocean)
        started = time.perf_counter()
        mdt = self.product_mdt(inputs)
        fields.update(derive_fields(fields["sla"], fields["uo"], fields["vo"], self.grid.lat,
                                    self.grid.lon, mdt=None if mdt is None else mdt.values,
                                    ocean=self.grid.ocean))
        timings["derive"] = time.perf_counter() - started
        started = time.perf_counter()
        provenance = ProductProvenance(
            model_id=self.model.metadata.model_id, model_sha256=self.model_sha256,
            input_files=tuple((Path(r.path).name, r.sha256) for r in inputs.files),
            days_without_observations=tuple(inputs.days_without_observations),
            observations=inputs.observations,
            processing_status="final" if job.final else "preliminary",
            production_time=job.production_time, platforms=inputs.platforms,
            mdt_source=_no_mdt(inputs) if mdt is None else mdt.source)
        path = write_product(Path(config.paths.products), config.name, day,
                             job.production_day, self.grid.lat, self.grid.lon, fields,
                             provenance, ocean=self.grid.ocean)
        timings["write"] = time.perf_counter() - started
        started = time.perf_counter()
        try:
            write_quicklook(path.with_suffix(".png"), fields, self.grid.lat, self.grid.lon,
                            product_day=day, production_day=job.production_day,
                            ocean=self.grid.ocean)
        except Exception as exc:  # the product is written and fine; a picture never fails it
            log.warning("quicklook of %s not drawn (the product itself is fine): %s: %s",
                        path.name, type(exc).__name__, exc)
        timings["quicklook"] = time.perf_counter() - started
        reach = dt.timedelta(days=oi_reach_days(model_oi_config(self.model.metadata)))
        return MadeProduct(path, tuple(inputs.files),
                           (inputs.days[0] - reach, inputs.days[-1] + reach), dict(timings))


class Producer:
    """Makes products for one configuration and records them in its ledger: claims a day,
    chooses its files (:meth:`begin`), has a :class:`ProductMaker` make it, records the result
    and points ``latest/`` at it (:meth:`record`). :meth:`make` does all of it here; a
    reprocess on worker processes or a Dask cluster sends the :class:`DayJob` to them and
    records what comes back, so that only this process opens the ledger.

    Parameters
    ----------
    config : OpsConfig
        The operations configuration.
    ledger : Ledger, optional
        Default: the configuration's.

    Raises
    ------
    varnet.runtime.metadata.ModelMismatch
        If the model does not fit the configuration (grid, window, inputs), naming the field.
    varnet.config.ConfigError
        If the configured MDT file cannot be used, or the ledger holds another region's
        products under this name.
    """

    def __init__(self, config: OpsConfig, ledger: Ledger | None = None) -> None:
        self.config = config
        self.ledger = ledger or Ledger.for_config(config)
        self.maker = ProductMaker(config, oi_cache=Path(config.paths.state) / "oi-cache")
        others = self.ledger.other_regions(config.name)
        if others:  # file names carry the name only: another region's would be overwritten
            raise ConfigError(
                "name", f"the ledger {config.paths.ledger_file} holds "
                f"{sum(others.values())} product(s) of another region under the name "
                f"{config.name!r}; a changed region needs a name of its own (product files "
                "are named after it)")

    @property
    def model(self) -> OnnxModel:
        """The ONNX model (:class:`~varnet.runtime.onnx_model.OnnxModel`)."""
        return self.maker.model

    @property
    def grid(self) -> Grid:
        """The product grid."""
        return self.maker.grid

    @property
    def mdt(self) -> Mdt | None:
        """The configured MDT on the product grid, or None."""
        return self.maker.mdt

    def make(self, day: dt.date, production_day: dt.date, *, final: bool,
             run_id: int | None = None, production_time: dt.datetime | None = None,
             force: bool = False) -> DayResult:
        """Make (or re-make) the product of ``day`` as issued on ``production_day``, here.

        The day is claimed in the ledger first; if another process holds the claim the day
        is not made (status ``busy``, its holder in ``error``). Once the claim is won the
        ledger is read again: a day another process made final meanwhile is not made twice
        (status ``up-to-date``) unless ``force``. Failures are recorded in the ledger and
        returned, not raised, so one bad day never stops the others.

        Parameters
        ----------
        day, production_day : datetime.date
            Product day and production day (UTC).
        final : bool
            Whether this issue is the final one of its day.
        run_id : int, optional
            The ledger run making it.
        production_time : datetime.datetime, optional
            ``date_created`` of the file (default: the time it is written; the rest of the
            file is the same whichever process makes it and when, see
            :func:`varnet.operational.products.product_digest`).
        force : bool, default False
            Re-make the day even if it is final.

        Returns
        -------
        DayResult
            ``status`` one of :data:`DAY_STATUSES`.
        """
        begun = self.begin(day, production_day, final=final, run_id=run_id,
                           production_time=production_time, force=force)
        if isinstance(begun, DayResult):
            return begun
        timings: dict[str, float] = {}
        try:
            made = self.maker.make(begun, timings)
        except Exception as exc:  # recorded for the operator; the other days go on
            return self.record_failure(begun, exc, timings)
        return self.record(begun, made)

    def begin(self, day: dt.date, production_day: dt.date, *, final: bool,
              run_id: int | None = None, production_time: dt.datetime | None = None,
              force: bool = False) -> DayJob | DayResult:
        """Claim ``day``, tidy what killed makers left, start its ledger row and choose its
        files; the claim is held until :meth:`record` or :meth:`record_failure`.

        Returns
        -------
        DayJob or DayResult
            The job to make, or why there is none: ``busy`` (claimed by another process),
            ``up-to-date`` (final already, not ``force``) or ``failed`` (no input; recorded).
        """
        ledger = self.ledger
        if not ledger.claim(day):
            return DayResult(day, "busy", error=f"held by {_holder(ledger, day)}")
        try:
            tidy_day(self.config, ledger, day)
            latest = ledger.latest_product(day)  # read again now that the day is ours
            if latest is not None and latest.status == "final" and not force:
                log.info("product %s is already final (issue %s, made meanwhile by another "
                         "process): not made again", day, latest.production_day)
                ledger.release(day)
                return DayResult(day, "up-to-date", latest.path and Path(latest.path))
            # a forced re-make keeps the old final until the new file has replaced it
            ledger.start_product(day, production_day, run_id=run_id, replace_final=force)
            production = self.config.production
            started = time.perf_counter()
            tracks, ssts = select_inputs(ledger, self.model.metadata, day,
                                         production.missions, production.sst_levels)
        except NoInputError as exc:
            return self.record_failure(
                DayJob(day, production_day, final, (), (), production_time), exc, {})
        except BaseException:
            ledger.release(day)
            raise
        log.debug("product %s: %d along-track and %d SST files chosen in %.2f s", day,
                  len(tracks), len(ssts), time.perf_counter() - started)
        return DayJob(day, production_day, final, tracks, ssts, production_time)

    def record(self, job: DayJob, made: MadeProduct) -> DayResult:
        """Record ``made`` in the ledger, point ``latest/`` at it, set aside the final it
        replaced, and release the day's claim. A product the ledger refuses (e.g. a second
        final of its day not started to replace the first) is recorded failed, and its file
        removed (:func:`~varnet.operational.tidy.tidy_day`)."""
        day, ledger = job.day, self.ledger
        try:
            try:
                ledger.finish_product(day, job.production_day, path=made.path,
                                      inputs_used=list(made.inputs_used),
                                      model_checksum=self.maker.model_sha256,
                                      timings=made.timings, final=job.final,
                                      window=made.window)
            except Exception as exc:
                result = self._fail(job, exc, made.timings)
                tidy_day(self.config, ledger, day)
                return result
            update_latest_link(Path(self.config.paths.products), self.config.name, day,
                               made.path)
            tidy_day(self.config, ledger, day)  # the final this one replaced, set aside
        finally:
            ledger.release(day)
        log.info("product %s (issue %s%s) written: %s in %.1f s (%s)", day,
                 job.production_day, ", final" if job.final else "", made.path.name,
                 sum(made.timings.values()),
                 ", ".join(f"{k} {v:.2f}" for k, v in made.timings.items()))
        return DayResult(day, "final" if job.final else "ok", made.path,
                         timings=made.timings)

    def record_failure(self, job: DayJob, exc: BaseException,
                       timings: dict[str, float]) -> DayResult:
        """Record that making ``job`` failed with ``exc`` and release the day's claim."""
        try:
            return self._fail(job, exc, timings)
        finally:
            self.ledger.release(job.day)

    def _fail(self, job: DayJob, exc: BaseException, timings: dict[str, float]) -> DayResult:
        message = f"{type(exc).__name__}: {exc}"
        self.ledger.fail_product(job.day, job.production_day, message, timings=timings)
        log.error("product %s (issue %s) failed: %s", job.day, job.production_day, message)
        return DayResult(job.day, "failed", error=message, timings=timings)

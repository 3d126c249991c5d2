"""Typed configuration of operations (``varnet-ops --config ops.toml``).

An operations configuration is a TOML file with a top-level ``name`` and the tables
``[region]`` (the model grid of the products), ``[model]`` (the ONNX model and how to run it),
``[paths]`` (inbox, archive, quarantine, products and state folders), ``[schedule]`` (when the
daemon runs) and ``[production]`` (latency, re-issues, workers, accepted inputs). Every value
is checked when the file is read and a wrong one is reported with its dotted key
(``production.reissue_days: must be >= lag_days (2), got 1``).

Read it with :func:`load_ops_config`, which also resolves relative paths against the folder of
the configuration file; :func:`varnet.config.load_toml` alone leaves them as written.
``configs/ops-demo.toml`` is the configuration of the embedded synthetic ocean.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from varnet.config import ConfigError, load_toml, require
from varnet.errors import CONFIG_PLACEHOLDER
from varnet.io.missions import is_mission_code

if TYPE_CHECKING:
    from varnet.datamodel.grid import Grid

__all__ = [
    "PROVIDERS",
    "SST_LEVELS",
    "ModelConfig",
    "OpsConfig",
    "PathsConfig",
    "ProductionConfig",
    "RegionConfig",
    "ScheduleConfig",
    "create_folders",
    "load_ops_config",
    "require_folder",
    "require_folders",
]

#: ONNX Runtime execution providers the configuration may ask for.
PROVIDERS = ("cpu", "cuda", "auto")
#: GHRSST processing levels, in varnet's default order of preference.
SST_LEVELS = ("L4", "L3S", "L3C", "L3U")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: Names of the file-system paths of ``[paths]``, in the order they are checked.
_PATH_KEYS = ("inbox", "archive", "quarantine", "products", "state")


@dataclass(frozen=True)
class RegionConfig:
    """The regular lon/lat model grid of the products (cell centres, degrees).

    Attributes
    ----------
    lat_min : float
        Latitude of the centres of the first (southernmost) row, degrees north.
    lon_min : float
        Longitude of the centres of the first (westernmost) column, degrees east.
    resolution_deg : float
        Cell size along both axes, degrees.
    nlat, nlon : int
        Number of rows and columns.
    ocean_mask : str
        A NetCDF file of the ocean mask on these cells (:mod:`varnet.io.ocean_mask`:
        ``sftof``, a land binary mask or a GHRSST ``mask``); relative to the configuration
        file's folder. Empty (the default): every cell is sea.
    """

    lat_min: float
    lon_min: float
    resolution_deg: float
    nlat: int
    nlon: int
    ocean_mask: str = ""

    def validate(self) -> None:
        require(0.0 < self.resolution_deg <= 10.0, "resolution_deg",
                f"must be in (0, 10] degrees, got {self.resolution_deg}")
        require(self.nlat >= 2, "nlat", f"must be >= 2, got {self.nlat}")
        require(self.nlon >= 2, "nlon", f"must be >= 2, got {self.nlon}")
        require(self.lat_min >= -90.0 and self.lat_max <= 90.0, "lat_min",
                f"the cell centres {self.lat_min:g}..{self.lat_max:g} N must stay within "
                "90 S..90 N")
        require(-180.0 <= self.lon_min < 360.0, "lon_min",
                f"must be in [-180, 360) degrees east, got {self.lon_min}")
        require(self.nlon * self.resolution_deg <= 360.0, "nlon",
                f"{self.nlon} cells of {self.resolution_deg:g} degrees span more than 360 "
                "degrees of longitude")

    @property
    def lat_max(self) -> float:
        """Latitude of the centres of the last row, degrees north."""
        return self.lat_min + (self.nlat - 1) * self.resolution_deg

    @property
    def lon_max(self) -> float:
        """Longitude of the centres of the last column, degrees east."""
        return self.lon_min + (self.nlon - 1) * self.resolution_deg

    @property
    def shape(self) -> tuple[int, int]:
        """Number of cells ``(nlat, nlon)``."""
        return (self.nlat, self.nlon)

    def centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell-centre coordinates of the grid.

        Returns
        -------
        lat : numpy.ndarray of float64, shape (nlat,)
            Latitudes of the row centres, degrees north, ascending.
        lon : numpy.ndarray of float64, shape (nlon,)
            Longitudes of the column centres, degrees east, ascending.
        """
        lat = self.lat_min + self.resolution_deg * np.arange(self.nlat, dtype=np.float64)
        lon = self.lon_min + self.resolution_deg * np.arange(self.nlon, dtype=np.float64)
        return lat, lon

    def grid(self, name: str = "grid") -> Grid:
        """The grid of the products, with the ocean mask of ``ocean_mask`` (all sea without).

        Parameters
        ----------
        name : str, default "grid"
            The grid's name (the configuration's ``name``).

        Returns
        -------
        varnet.datamodel.grid.Grid
            The cell centres of :meth:`centres`, degrees, and the ocean mask.

        Raises
        ------
        varnet.io.readers.InputFileError
            If the mask file cannot be used (naming the file and the problem).
        """
        from varnet.datamodel.grid import Grid
        from varnet.io.ocean_mask import read_ocean_mask

        lat, lon = self.centres()
        ocean = read_ocean_mask(self.ocean_mask, lat, lon) if self.ocean_mask else None
        return Grid(lat, lon, ocean, name)


@dataclass(frozen=True)
class ModelConfig:
    """The ONNX model and how ONNX Runtime runs it.

    Attributes
    ----------
    path : str
        The ``.onnx`` file (from ``varnet-export``). :func:`load_ops_config` makes a relative
        path absolute, relative to the configuration file's folder.
    provider : {"cpu", "cuda", "auto"}
        Execution provider; ``"auto"`` takes CUDA where it loads, else the CPU.
    threads : int
        CPU threads of each product worker, at least 1: ONNX Runtime intra-op threads (CPU
        provider) and the threads solving the blocks of the OI first guess.
    batch_size : int
        Patches per inference call, at least 1.
    """

    path: str
    provider: str = "auto"
    threads: int = 1
    batch_size: int = 1

    def validate(self) -> None:
        require(bool(self.path.strip()), "path", "must name the ONNX model file")
        require(self.provider in PROVIDERS, "provider",
                f"must be one of {', '.join(PROVIDERS)}, got {self.provider!r}")
        require(self.threads >= 1, "threads", f"must be >= 1, got {self.threads}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class PathsConfig:
    """Folders of operations. :func:`load_ops_config` makes relative paths absolute.

    Attributes
    ----------
    inbox : str
        Where new observation files arrive (searched recursively by ingest).
    archive : str
        Validated inputs, as ``alongtrack/YYYY/MM/`` and ``sst/YYYY/MM/``.
    quarantine : str
        Rejected inputs, as ``YYYYMMDD/`` (ingest day) with a ``NAME.reason.txt`` each.
    products : str
        The daily product files.
    state : str
        The ledger (``ledger.sqlite``), the locks and the status file.
    create_missing : bool
        Create missing folders of the five above when a command starts (default false:
        a missing folder is an error naming its key, so that a typo in a path never starts
        an empty ledger or an inbox nobody delivers to; create them once with
        ``varnet-ops init --config OPS.toml``). See :func:`require_folders`.
    """

    inbox: str
    archive: str
    quarantine: str
    products: str
    state: str
    create_missing: bool = False

    def validate(self) -> None:
        for key in _PATH_KEYS:
            require(bool(getattr(self, key).strip()), key, "must name a folder")
        normal = {key: os.path.normpath(getattr(self, key)) for key in _PATH_KEYS}
        for i, a in enumerate(_PATH_KEYS):
            for b in _PATH_KEYS[i + 1:]:
                require(normal[a] != normal[b], b, f"is the same folder as paths.{a} "
                        f"({getattr(self, a)!r}); every path needs its own folder")
        inbox = normal["inbox"]
        for key in _PATH_KEYS[1:]:
            require(not _inside(normal[key], inbox), key,
                    f"{getattr(self, key)!r} lies inside paths.inbox, which ingest searches "
                    "recursively; put it elsewhere")
            require(not _inside(inbox, normal[key]), "inbox",
                    f"{self.inbox!r} lies inside paths.{key}; put it elsewhere")

    @property
    def ledger_file(self) -> Path:
        """The SQLite ledger, ``{state}/ledger.sqlite``."""
        return Path(self.state) / "ledger.sqlite"

    @property
    def daemon_lock_file(self) -> Path:
        """The daemon's single-instance lock, ``{state}/daemon.lock``."""
        return Path(self.state) / "daemon.lock"

    @property
    def status_file(self) -> Path:
        """The daemon's status file, ``{state}/status.json``."""
        return Path(self.state) / "status.json"


def _inside(path: str, folder: str) -> bool:
    """Whether the normalised ``path`` lies strictly inside the normalised ``folder``."""
    folder = folder.rstrip(os.sep) + os.sep
    return path.startswith(folder) if folder != os.sep else path != os.sep


@dataclass(frozen=True)
class ScheduleConfig:
    """When the daemon runs.

    Attributes
    ----------
    cron : str
        Five-field cron expression (minute hour day-of-month month day-of-week), in UTC,
        e.g. ``"30 6 * * *"`` for 06:30 UTC every day.
    misfire_grace_minutes : int
        A run that could not start on time (host asleep, daemon down) still starts if it is
        at most this late, minutes; at least 1.
    """

    cron: str = "30 6 * * *"
    misfire_grace_minutes: int = 60

    def validate(self) -> None:
        fields = self.cron.split()
        require(len(fields) == 5, "cron",
                f"expected 5 fields (minute hour day-of-month month day-of-week, in UTC), "
                f"got {len(fields)} in {self.cron!r}")
        problem = _crontab_problem(self.cron)
        require(problem is None, "cron", f"{self.cron!r} is not a valid cron expression: "
                f"{problem}")
        require(self.misfire_grace_minutes >= 1, "misfire_grace_minutes",
                f"must be >= 1 minute, got {self.misfire_grace_minutes}")


def _crontab_problem(cron: str) -> str | None:
    """APScheduler's objection to ``cron`` (None if it accepts it or is not installed)."""
    try:
        from apscheduler.triggers.cron import CronTrigger
    except ImportError:
        return None
    try:
        CronTrigger.from_crontab(cron, timezone="UTC")
    except (ValueError, TypeError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    return None


@dataclass(frozen=True)
class ProductionConfig:
    """What is produced when, and from which inputs.

    Attributes
    ----------
    lag_days : int
        The product of day D is first made on day D + ``lag_days`` (UTC), at least 0.
    reissue_days : int
        The product of day D is made again on later days while observations of its window
        keep arriving, until the production day passes D + ``reissue_days``; its last issue is
        then final. At least ``lag_days``.
    workers : int
        Processes of ``varnet-ops reprocess`` (its ``--workers`` overrides it), at least 1;
        each uses ``model.threads`` cores. The daily run makes its few days in one process.
    sst_levels : tuple of str
        GHRSST levels accepted, most preferred first (from L4, L3S, L3C, L3U); ingest
        quarantines files of other levels.
    missions : tuple of str
        Altimetry missions accepted, as the codes of CMEMS file names (``"j3n"``, ``"s3a"``,
        ``"s6a_hr"``; :data:`varnet.io.missions.MISSIONS`); empty accepts every mission.
        Ingest quarantines files of other missions.
    first_day : datetime.date or None
        Earliest data day of interest; ingest quarantines older files as out of window.
        None (the default) accepts any past day (reprocessing needs old data).
    mdt : str
        Mean dynamic topography file (NetCDF with a variable ``mdt`` in metres on a regular
        latitude / longitude grid covering the region, as the CNES-CLS MDT files), from
        which products get ``adt``, ``ugos`` and ``vgos``; :func:`load_ops_config` makes a
        relative path absolute, relative to the configuration file's folder. Empty (the
        default): the MDT is estimated from the along-track inputs' ``mdt``, and a product
        whose inputs carry none has no ``adt``, ``ugos``, ``vgos``
        (:mod:`varnet.operational.mdt`).
    sst_min_quality_level : int
        GHRSST L2P/L3 pixels whose ``quality_level`` is below this (0 no data .. 5 best) are
        not used, in ingest and in products; 0..5, default 4 (acceptable and best quality).
        Ingest quarantines an SST file with no pixel left.
    min_observations : int
        Fewest along-track points over the region's sea in a product's window (7 days) for
        the product to be made, at least 1 (default 1); a window with fewer fails with the
        reason, never a product made from the model alone.
    max_input_mb : int
        Largest input file ingest accepts, in MB (10**6 bytes), at least 1; default 2000
        (2 GB, well above any L3 along-track or L3/L4 GHRSST file). A larger file is never
        read nor copied: ingest moves it to the quarantine with a note (or leaves it in the
        inbox when the quarantine is on another file system), as it does a sparse file
        (:mod:`varnet.operational.ingest`).
    remake_stale_finals : bool
        A final product whose inputs changed after it was made (an input of its window
        arrived late, or one it used was replaced) is *stale*. True: the daily run (and
        reprocessing) makes it again, final, replacing the old file only once the new one is
        written. False (the default): finals never change by themselves; the daily run logs
        each stale final with the command that re-issues it, and ``varnet-ops status``
        lists them and exits 1 (:mod:`varnet.operational.runs`).
    """

    lag_days: int = 1
    reissue_days: int = 3
    workers: int = 1
    sst_levels: tuple[str, ...] = SST_LEVELS
    missions: tuple[str, ...] = ()
    first_day: dt.date | None = None
    mdt: str = ""
    sst_min_quality_level: int = 4
    min_observations: int = 1
    max_input_mb: int = 2000
    remake_stale_finals: bool = False

    def validate(self) -> None:
        require(self.lag_days >= 0, "lag_days", f"must be >= 0, got {self.lag_days}")
        require(self.reissue_days >= self.lag_days, "reissue_days",
                f"must be >= lag_days ({self.lag_days}), got {self.reissue_days}")
        require(self.workers >= 1, "workers", f"must be >= 1, got {self.workers}")
        require(len(self.sst_levels) >= 1, "sst_levels",
                f"must list at least one of {', '.join(SST_LEVELS)}")
        for i, level in enumerate(self.sst_levels):
            require(level in SST_LEVELS, f"sst_levels[{i}]",
                    f"unknown GHRSST level {level!r}; expected one of {', '.join(SST_LEVELS)}")
        require(len(set(self.sst_levels)) == len(self.sst_levels), "sst_levels",
                f"lists a level twice: {list(self.sst_levels)}")
        for i, mission in enumerate(self.missions):
            require(is_mission_code(mission), f"missions[{i}]",
                    f"mission codes are lowercase letters and digits, parts joined by '_' "
                    f"(e.g. 'j3n', 's3a', 's6a_hr'), got {mission!r}")
        require(len(set(self.missions)) == len(self.missions), "missions",
                f"lists a mission twice: {list(self.missions)}")
        require(0 <= self.sst_min_quality_level <= 5, "sst_min_quality_level",
                f"must be a GHRSST quality level 0..5, got {self.sst_min_quality_level}")
        require(self.max_input_mb >= 1, "max_input_mb",
                f"must be >= 1 MB, got {self.max_input_mb}")
        require(self.min_observations >= 1, "min_observations",
                f"must be >= 1, got {self.min_observations}")


@dataclass(frozen=True)
class OpsConfig:
    """The whole operations configuration.

    Attributes
    ----------
    name : str
        Region or product name used in product file names: lowercase letters, digits and
        hyphens, starting with a letter or digit.
    region : RegionConfig
    model : ModelConfig
    paths : PathsConfig
    schedule : ScheduleConfig
    production : ProductionConfig
    """

    name: str
    region: RegionConfig
    model: ModelConfig
    paths: PathsConfig
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    production: ProductionConfig = field(default_factory=ProductionConfig)

    def validate(self) -> None:
        require(bool(_NAME_RE.match(self.name)), "name",
                f"must be lowercase letters, digits and hyphens (e.g. 'gulfstream-demo'), "
                f"got {self.name!r}")

    def grid(self) -> Grid:
        """The products' grid, named after the configuration (:meth:`RegionConfig.grid`)."""
        return self.region.grid(self.name)


def _resolve(value: str, base: Path) -> str:
    """``value`` as an absolute, normalised path; relative paths are taken from ``base``."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = base / path
    return os.path.abspath(path)


def load_ops_config(path: str | os.PathLike[str]) -> OpsConfig:
    """Read and validate an operations configuration, resolving its paths.

    Parameters
    ----------
    path : str or os.PathLike
        The TOML file.

    Returns
    -------
    OpsConfig
        The configuration, with ``model.path``, ``region.ocean_mask`` and ``production.mdt``
        (when set) and every
        ``paths.*`` absolute: a relative path is taken from the folder holding the
        configuration file (not the current folder), and ``~`` is expanded.

    Raises
    ------
    ConfigError
        If the file cannot be read or parsed, or a value is missing, of the wrong type or out
        of range, or ``production.mdt`` names no file; the message names the file and the
        dotted key. (The MDT file's content is checked when products are made:
        :func:`varnet.operational.mdt.read_mdt_file`.)
    """
    path = Path(path)
    config = load_toml(OpsConfig, path)
    base = path.absolute().parent
    paths = dataclasses.replace(
        config.paths, **{key: _resolve(getattr(config.paths, key), base) for key in _PATH_KEYS}
    )
    model = dataclasses.replace(config.model, path=_resolve(config.model.path, base))
    for table, key, what in (("region", "ocean_mask", "ocean mask"), ("production", "mdt", "MDT")):
        section = getattr(config, table)
        value = getattr(section, key).strip()
        if value:  # an optional file: resolved and checked now, read when products are made
            resolved = _resolve(value, base)
            if not Path(resolved).is_file():
                raise ConfigError(f"{table}.{key}", f"{what} file {resolved} does not exist "
                                  "or is not a file", str(path))
            config = dataclasses.replace(config, **{table: dataclasses.replace(
                section, **{key: resolved})})
    try:
        paths.validate()
    except ConfigError as err:  # two paths written differently may resolve to one folder
        raise ConfigError(f"paths.{err.key}", err.message, str(path)) from None
    return dataclasses.replace(config, paths=paths, model=model)


# --------------------------------------------------------------------------------------------
# the configured folders


def _folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a configured folder (None if it can)."""
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return "is not a folder"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"is not writable by this user (uid {os.getuid()})"
    return None


def require_folder(
    key: str, path: str | os.PathLike[str], *, create: bool = False,
    config_path: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Check one configured folder, ``paths.{key}`` (see :func:`require_folders`).

    Returns
    -------
    list of pathlib.Path
        The folders created (``create`` true and the folder missing), outermost first.

    Raises
    ------
    ConfigError
        Naming ``paths.{key}`` and the folder, if it is missing (and not ``create``), is
        not a folder or is not writable.
    """
    path = Path(path)
    created = []
    problem = _folder_problem(path)
    if problem == "does not exist" and create:
        created = _create(key, path, config_path)
        problem = _folder_problem(path)
    if problem is None:
        return created
    where = str(config_path) if config_path is not None else CONFIG_PLACEHOLDER
    hint = (f"; create it with `varnet-ops init --config {where}` or fix the path (or set "
            "paths.create_missing = true)" if problem == "does not exist" else "")
    raise ConfigError(f"paths.{key}", f"folder {path} {problem}{hint}",
                      None if config_path is None else str(config_path))


def require_folders(
    config: OpsConfig, keys: tuple[str, ...] = _PATH_KEYS, *,
    config_path: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Check that the configured folders exist (``varnet-ops`` commands call it at start).

    Nothing creates a configured folder on the fly: a missing one is an error naming its
    key, unless ``paths.create_missing`` is true, when it is created (and logged). Folders
    inside them (``archive/alongtrack/YYYY/MM``, ``quarantine/YYYYMMDD``...) are created as
    needed.

    Parameters
    ----------
    config : OpsConfig
        The configuration (paths absolute, as from :func:`load_ops_config`).
    keys : tuple of str
        The ``[paths]`` keys to check (default all five).
    config_path : str or os.PathLike, optional
        The configuration file, named in the message.

    Returns
    -------
    list of pathlib.Path
        The folders created (``paths.create_missing``); empty otherwise.

    Raises
    ------
    ConfigError
        For the first folder that is missing (``paths.inbox: folder /srv/ops/inbox does not
        exist; create it with `varnet-ops init --config ops.toml` or fix the path``), is not
        a folder or is not writable.
    """
    created = []
    for key in keys:
        created += require_folder(key, getattr(config.paths, key),
                                  create=config.paths.create_missing, config_path=config_path)
    return created


def create_folders(config: OpsConfig, *,
                   config_path: str | os.PathLike[str] | None = None) -> list[Path]:
    """Create the five configured folders where missing (``varnet-ops init``); idempotent.

    Returns
    -------
    list of pathlib.Path
        The folders created (parents included), in order; empty if all existed.

    Raises
    ------
    ConfigError
        If a folder cannot be created (naming the key and the system's reason), or a path
        is not a folder or not writable.
    """
    created = []
    for key in _PATH_KEYS:
        path = Path(getattr(config.paths, key))
        if not path.exists():
            created += _create(key, path, config_path)
    require_folders(config, config_path=config_path)
    return created


def _create(key: str, path: Path, config_path: str | os.PathLike[str] | None) -> list[Path]:
    """Create ``path`` and its missing parents; the folders created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"paths.{key}", f"cannot create the folder {path}: "
                          f"{exc.strerror or exc}",
                          None if config_path is None else str(config_path)) from None
    for folder in missing:
        logging.getLogger("varnet.ops").info("created %s (paths.%s)", folder, key)
    return missing

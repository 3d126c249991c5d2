"""What an observation kind is, and what it says of a file.

An *observation kind* (CMEMS along-track SSH, GHRSST SST; next SWOT swaths and drifters) owns
everything about its files that differs from one kind to another, so that ingest, the ledger
and the assembly of the model's inputs loop over the registry (:mod:`varnet.datamodel.kinds`)
instead of branching on kind names. A kind is a subclass of :class:`ObservationKind`:

- **recognising** its files: by name, without reading them (:meth:`~ObservationKind.
  identify_name`), and, where the kind can, by content (:meth:`~ObservationKind.
  identify_content`), as an :class:`Identity` (data day, production day, mission or level,
  the name it is archived under); in an archive by name only (:meth:`~ObservationKind.index`);
- **checking** a file against the configuration (:meth:`~ObservationKind.name_problem`) and by
  opening it (:meth:`~ObservationKind.content_problem`); where it was produced
  (:meth:`~ObservationKind.date_created`);
- **splitting** a file over several data days into daily files (:meth:`~ObservationKind.split`,
  for kinds delivered that way);
- **reading** (:meth:`~ObservationKind.read`) and **gridding** onto a
  :class:`~varnet.datamodel.grid.Grid` (:meth:`~ObservationKind.grid`): one kind may make
  several model inputs (along-track makes the daily cell means ``obs`` and the OI first guess
  ``oi``);
- **ordering**, one rule: *the newest production wins*. Files of the same
  :meth:`~ObservationKind.slot` hold the same data: ingest archives the one of greatest
  :meth:`~ObservationKind.production_order` and sets the others aside. Among archived files,
  each :meth:`~ObservationKind.use_slot` gives the model the file of greatest
  :meth:`~ObservationKind.preference` (by default the production order; GHRSST: the level
  the configuration prefers), the first in the given order where two are equal
  (:func:`choose`).

The ledger stores a kind's :attr:`~ObservationKind.name` in its ``kind`` column, and the
archive keeps its files under ``{archive}/{name}/YYYY/MM/``
(:meth:`~ObservationKind.archive_folder`).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from varnet.datamodel.grid import Grid
from varnet.io import readers
from varnet.io.names import GHRSST_LEVELS
from varnet.kernels.oi import OIConfig

__all__ = [
    "Choice",
    "GriddingOptions",
    "Identity",
    "KindOptions",
    "ObservationFile",
    "ObservationKind",
    "RecordLike",
    "RegionBox",
    "choose",
    "netcdf_date_created",
]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# what a file is


@dataclass(frozen=True)
class Identity:
    """What an observation file is, from its name or its content.

    Attributes
    ----------
    kind : str
        The kind's name (:attr:`ObservationKind.name`), as the ledger stores it.
    data_day : datetime.date
        Data day (UTC); the first one of a file covering several (:attr:`last_day`).
    mission, level : str or None
        Mission or platform code (along-track: ``"j3n"``), processing level (GHRSST:
        ``"L4"``); the ledger's columns of the same names.
    product : str or None
        The kind's product type, e.g. ``"nrt"`` or ``"dt"``.
    production_day : datetime.date or None
        Production day where the name or the content gives one.
    last_day : datetime.date or None
        Last data day of a file covering several days (split at ingest,
        :meth:`ObservationKind.split`); None for a daily file.
    archive_name : str or None
        The name it is archived under when that is not its own (a file identified by its
        content, a day split from a longer file).
    original_name : str or None
        The name it arrived under when that is not the archived file's (a split day).
    how : str or None
        How it was identified, for the notes a person reads.
    detail : object
        The kind's own description of the file (e.g. the along-track reader's
        :class:`~varnet.io.readers.AlongTrackIdentity`); not compared.
    """

    kind: str
    data_day: dt.date
    mission: str | None = None
    level: str | None = None
    product: str | None = None
    production_day: dt.date | None = None
    last_day: dt.date | None = None
    archive_name: str | None = None
    original_name: str | None = None
    how: str | None = None
    detail: Any = field(default=None, compare=False, repr=False)

    @property
    def daily(self) -> bool:
        """Whether the file covers one data day."""
        return self.last_day is None or self.last_day == self.data_day

    def describe(self) -> str:
        """The identity in words, e.g. ``"alongtrack mission j3, data day 2020-01-05"``."""
        parts = [self.kind]
        if self.mission is not None:
            parts.append(f"mission {self.mission}")
        if self.level is not None:
            parts.append(f"level {self.level}")
        how = f" ({self.how})" if self.how else ""
        return f"{' '.join(parts)}, data day {self.data_day}{how}"

    def file(self, name: str, *, created: str | None = None,
             path: Path | None = None) -> ObservationFile:
        """This identity as the ordering sees a file named ``name``.

        Parameters
        ----------
        name : str
            The name it has (or will have) in the archive.
        created : str, optional
            Its ``date_created``, as a UTC timestamp (the ledger's ``file_created``).
        path : pathlib.Path, optional
            Where it lies.

        Returns
        -------
        ObservationFile
        """
        return ObservationFile(kind=self.kind, name=name, data_day=self.data_day,
                               mission=self.mission, level=self.level,
                               production_day=self.production_day, created=created, path=path)


class RecordLike(Protocol):
    """What :meth:`ObservationFile.from_record` reads of a ledger row
    (:class:`varnet.operational.ledger.InputRecord`)."""

    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def mission(self) -> str | None: ...
    @property
    def level(self) -> str | None: ...
    @property
    def data_day(self) -> dt.date | None: ...
    @property
    def production_day(self) -> dt.date | None: ...
    @property
    def file_created(self) -> str | None: ...


@dataclass(frozen=True)
class ObservationFile:
    """One file of a kind as ordering and selection see it (from its name or its ledger row).

    Attributes
    ----------
    kind : str
        The kind's name.
    name : str
        Its name in the archive (for a file being archived: the name it will have).
    data_day : datetime.date or None
        Data day (UTC).
    mission, level : str or None
        As in :class:`Identity`.
    production_day : datetime.date or None
        Production day, where known.
    created : str or None
        Its ``date_created`` as a UTC timestamp (the ledger's ``file_created``); None where it
        has none or it was not read.
    path : pathlib.Path or None
        Where it lies.
    """

    kind: str
    name: str
    data_day: dt.date | None
    mission: str | None = None
    level: str | None = None
    production_day: dt.date | None = None
    created: str | None = None
    path: Path | None = None

    @classmethod
    def from_record(cls, record: RecordLike) -> ObservationFile:
        """The file a ledger row describes (its ``path``, ``kind``, ``mission``...)."""
        path = Path(record.path)
        return cls(kind=record.kind, name=path.name, data_day=record.data_day,
                   mission=record.mission, level=record.level,
                   production_day=record.production_day, created=record.file_created,
                   path=path)


# --------------------------------------------------------------------------------------------
# options


class RegionBox(Protocol):
    """The product region as a kind checks a file against it
    (:class:`varnet.operational.config.RegionConfig` is one): cell centres, degrees."""

    @property
    def lat_min(self) -> float: ...
    @property
    def lat_max(self) -> float: ...
    @property
    def lon_min(self) -> float: ...
    @property
    def lon_max(self) -> float: ...
    @property
    def resolution_deg(self) -> float: ...


@dataclass(frozen=True)
class KindOptions:
    """What the configuration accepts and prefers, as the kinds read it.

    Attributes
    ----------
    missions : tuple of str
        Along-track missions accepted and used; empty: all (``production.missions``).
    sst_levels : tuple of str
        GHRSST levels accepted, most preferred first (``production.sst_levels``).
    sst_min_quality_level : int
        L3 pixels whose ``quality_level`` is below this are missing, 0..5
        (``production.sst_min_quality_level``).
    region : RegionBox or None
        The product region, which a file's grid must overlap (None: not checked).
    """

    missions: tuple[str, ...] = ()
    sst_levels: tuple[str, ...] = GHRSST_LEVELS
    sst_min_quality_level: int = 4
    region: RegionBox | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "missions", tuple(self.missions))
        object.__setattr__(self, "sst_levels", tuple(self.sst_levels))


@dataclass(frozen=True)
class GriddingOptions:
    """How a kind grids its observations (:meth:`ObservationKind.grid`).

    Attributes
    ----------
    oi : OIConfig or None
        Optimal-interpolation parameters of a kind that maps a first guess (along-track:
        ``oi``); None: no first guess is made.
    workers : int
        Processes for the optimal interpolation (the result does not depend on it).
    threads : int
        Threads solving the OI's blocks in each process (the result does not depend on it).
    error_variance : bool
        Whether the OI's error variance is computed too.
    progress : bool
        Show progress bars.
    oi_cache : pathlib.Path or None
        Folder of OI days already mapped (:func:`varnet.datamodel.gridding.
        cached_oi_first_guess`), used when the error variance is not asked for; None: every
        day is mapped.
    """

    oi: OIConfig | None = None
    workers: int = 1
    threads: int = 1
    error_variance: bool = True
    progress: bool = False
    oi_cache: Path | None = None


# --------------------------------------------------------------------------------------------
# the kind


class ObservationKind(abc.ABC):
    """One kind of observation file: everything ingest, the ledger and the model's inputs need
    to know of its files (see the module docstring).

    A subclass sets :attr:`name`, :attr:`expected_name` and :attr:`outputs` and implements
    :meth:`identify_name`, :meth:`content_problem`, :meth:`read` and :meth:`grid`; every other
    method has a default that fits a kind of daily files named with their data day.

    Attributes
    ----------
    name : str
        Short lower-case name (letters, digits, ``_``, ``-``): the ledger's ``kind`` and the
        archive's folder, e.g. ``"alongtrack"``.
    expected_name : str
        The name form, for the message on an unrecognised file, e.g. ``"a GHRSST name
        YYYYMMDDHHMMSS-..."``.
    outputs : tuple of str
        Names of the fields :meth:`grid` makes (what a model's signature names as an input's
        ``field``).
    land_fill : dict of str to float
        The value a field of :attr:`outputs` takes on land as the model takes it
        (:func:`varnet.datamodel.assemble.assemble_inputs`), in the field's unit; a field not
        named stays NaN on land (missing, as off the tracks or under a cloud).
    """

    name: ClassVar[str] = ""
    expected_name: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...]] = ()
    land_fill: ClassVar[dict[str, float]] = {}

    def __repr__(self) -> str:
        return f"<observation kind {self.name!r} ({type(self).__name__})>"

    # --- recognising ------------------------------------------------------------------------

    @abc.abstractmethod
    def identify_name(self, name: str) -> Identity | None:
        """What a file of this kind is, from its name alone (nothing is read).

        Parameters
        ----------
        name : str
            A bare file name.

        Returns
        -------
        Identity or None
            None when the name is not one of this kind's.
        """

    def identify_content(self, path: Path, today: dt.date) -> Identity | str | None:
        """What a file whose name no kind recognises is, from its content.

        Parameters
        ----------
        path : pathlib.Path
            The file.
        today : datetime.date
            The ingest day (UTC), e.g. the production day of a file that gives none.

        Returns
        -------
        Identity, str or None
            The identity; or a clause saying why the content is not of this kind, appended
            to the message on an unrecognised file (starting with its own punctuation, e.g.
            ``", and the content is not ..."``); or None (the default) for a kind that does
            not recognise files by their content.
        """
        return None

    def index(self, path: Path) -> ObservationFile | None:
        """An archived file of this kind, recognised by its name (training's indexer,
        :func:`varnet.datamodel.files.find_input_files`); None for other names and for files over
        several data days.

        Parameters
        ----------
        path : pathlib.Path
            The file.

        Returns
        -------
        ObservationFile or None
        """
        identity = self.identify_name(path.name)
        if identity is None or not identity.daily:
            return None
        return identity.file(path.name, path=path)

    # --- checking ---------------------------------------------------------------------------

    def name_problem(self, identity: Identity, options: KindOptions) -> str | None:
        """Why the configuration does not accept a file of this identity (e.g. a mission
        not in ``production.missions``), or None. The days are checked by ingest."""
        return None

    @abc.abstractmethod
    def content_problem(self, path: Path, identity: Identity,
                        options: KindOptions) -> str | None:
        """Open a file and check it: the reader's checks and the kind's own (at least one
        valid value, times within the data day...).

        Parameters
        ----------
        path : pathlib.Path
            The file.
        identity : Identity
            What its name (or content) says it is.
        options : KindOptions
            The configuration's choices.

        Returns
        -------
        str or None
            What is wrong with it, in words a person can act on; None when it is good.

        Raises
        ------
        varnet.io.readers.InputFileError
            Where the reader refuses the file (its problem is the quarantine's reason).
        """

    def date_created(self, path: Path) -> str | None:
        """The file's creation date as written in it (a NetCDF file's ``date_created``
        attribute, :func:`netcdf_date_created`), or None (the default: not known)."""
        return None

    # --- splitting --------------------------------------------------------------------------

    def split(
        self, path: Path, identity: Identity, folder: Path, *, source: str,
        production: Callable[[], dt.date],
    ) -> Iterator[tuple[Path, Identity]]:
        """Split a file covering several data days into daily files of this kind.

        The file is read at once (a problem raises here); the daily files are written one by
        one as the iterator is consumed.

        Parameters
        ----------
        path : pathlib.Path
            The file (``identity.daily`` is False).
        identity : Identity
            Its identity.
        folder : pathlib.Path
            An empty folder to write the daily files in.
        source : str
            Provenance to record in each daily file.
        production : callable
            Gives the production day of the daily files when the file's identity has none.

        Returns
        -------
        iterator of (pathlib.Path, Identity)
            Each daily file and its identity (with ``original_name``).

        Raises
        ------
        varnet.io.readers.InputFileError
            If the file cannot be read.
        """
        raise NotImplementedError(f"{self.name} files cover one data day each: "
                                  f"{path.name} covers {identity.data_day} to "
                                  f"{identity.last_day}")

    def archive_folder(self, identity: Identity) -> PurePath:
        """Where a file is archived, relative to the archive: ``{name}/YYYY/MM`` of its data
        day."""
        day = identity.data_day
        return PurePath(self.name, f"{day:%Y}", f"{day:%m}")

    # --- ordering ---------------------------------------------------------------------------

    def slot(self, file: ObservationFile) -> Hashable:
        """Files of equal slots hold the same data: one is archived, the newest production
        (:meth:`production_order`). Default: same data day, mission and level."""
        return (file.data_day, file.mission, file.level)

    def production_order(self, file: ObservationFile) -> tuple[Any, ...]:
        """Sort key of the productions of one slot: a later production compares greater.
        Default: production day, then ``date_created``."""
        return (file.production_day or dt.date.min, file.created or "")

    def use_slot(self, file: ObservationFile) -> Hashable:
        """The model uses one file of each use slot (default: :meth:`slot`)."""
        return self.slot(file)

    def preference(self, file: ObservationFile, options: KindOptions) -> tuple[Any, ...] | None:
        """Sort key of the files of one use slot: the greatest is used; None: never used
        (e.g. a mission or level the configuration does not take). Default: the newest
        production (:meth:`production_order`)."""
        return self.production_order(file)

    def tie_label(self, file: ObservationFile) -> str:
        """The files two equal candidates are, for the warning ``"two {label}: using A,
        ignoring B"``."""
        return f"{self.name} files for {file.data_day} with the same production"

    def file_days(self, days: Sequence[dt.date], oi: OIConfig) -> tuple[dt.date, dt.date]:
        """First and last data day of the files the model's inputs of the window ``days``
        are made from (default: the window itself).

        Parameters
        ----------
        days : sequence of datetime.date
            The window, ascending.
        oi : OIConfig
            The model's optimal-interpolation parameters (a kind making a first guess reads
            the observations of the OI's reach around the window).

        Returns
        -------
        tuple of datetime.date
        """
        return days[0], days[-1]

    # --- reading and gridding ---------------------------------------------------------------

    @abc.abstractmethod
    def read(self, path: Path, options: KindOptions) -> Any:
        """Read one file (the one reader of training and operations).

        Raises
        ------
        varnet.io.readers.InputFileError
            If the file cannot be used; the message names it and the problem.
        """

    @abc.abstractmethod
    def grid(self, data: Sequence[Any], grid: Grid, days: Sequence[dt.date],
             gridding: GriddingOptions) -> dict[str, NDArray[np.float32]]:
        """Grid what :meth:`read` returned for the files of a window onto ``grid``.

        Parameters
        ----------
        data : sequence
            What :meth:`read` returned for each file.
        grid : Grid
            The model grid and its ocean mask.
        days : sequence of datetime.date
            The output days (UTC), strictly increasing.
        gridding : GriddingOptions
            How (the OI's parameters, processes).

        Returns
        -------
        dict of str to numpy.ndarray of float32, shape (ndays, ny, nx)
            One array per model input of :attr:`outputs` that ``gridding`` asks for, in its
            physical unit (m, K...), NaN where there is no value and on land.
        """

    def model_inputs(
        self, paths: Sequence[str | Path], grid: Grid, days: Sequence[dt.date],
        options: KindOptions | None = None, gridding: GriddingOptions | None = None,
    ) -> dict[str, NDArray[np.float32]]:
        """Read the files of a window and grid them: :meth:`read` then :meth:`grid`.

        Parameters
        ----------
        paths : sequence of str or pathlib.Path
            The window's files of this kind.
        grid : Grid
            The model grid.
        days : sequence of datetime.date
            The output days (UTC), strictly increasing.
        options : KindOptions, optional
            How files are read (e.g. the SST quality level); defaults when None.
        gridding : GriddingOptions, optional
            How they are gridded; defaults (no OI) when None.

        Returns
        -------
        dict of str to numpy.ndarray of float32
            As :meth:`grid`.
        """
        options = options or KindOptions()
        data = [self.read(Path(p), options) for p in paths]
        return self.grid(data, grid, days, gridding or GriddingOptions())


# --------------------------------------------------------------------------------------------
# the one rule


@dataclass(frozen=True)
class Choice(Generic[T]):
    """What :func:`choose` chose.

    Attributes
    ----------
    chosen : list
        One candidate per use slot, in the order they were given.
    ties : list of (kept, ignored)
        Candidates equal to the one kept at the time they were seen (the first is kept).
    """

    chosen: list[T]
    ties: list[tuple[T, T]]


def choose(kind: ObservationKind, candidates: Sequence[T], options: KindOptions, *,
           file_of: Callable[[T], ObservationFile] | None = None) -> Choice[T]:
    """The file of greatest :meth:`~ObservationKind.preference` of each
    :meth:`~ObservationKind.use_slot`: the newest production wins.

    Parameters
    ----------
    kind : ObservationKind
        The candidates' kind.
    candidates : sequence
        Files (or ledger rows, with ``file_of``), e.g. in path order; where two are equal the
        first is kept.
    options : KindOptions
        The configuration's choices (missions, levels...).
    file_of : callable, optional
        Gives the :class:`ObservationFile` of a candidate (e.g.
        :meth:`ObservationFile.from_record`); the candidates are files when None.

    Returns
    -------
    Choice
        The chosen candidates in their given order, and the ties.
    """
    best: dict[Hashable, tuple[tuple[Any, ...], int, T]] = {}
    ties: list[tuple[T, T]] = []
    for i, item in enumerate(candidates):
        file = file_of(item) if file_of is not None else item
        rank = kind.preference(file, options)
        if rank is None:
            continue
        slot = kind.use_slot(file)
        held = best.get(slot)
        if held is not None:
            if rank == held[0]:
                ties.append((held[2], item))
            if rank <= held[0]:
                continue
        best[slot] = (rank, i, item)
    return Choice([item for _, _, item in sorted(best.values(), key=lambda v: v[1])], ties)


def netcdf_date_created(path: Path) -> str | None:
    """A NetCDF file's ``date_created`` global attribute as written, or None (absent or
    empty).

    Raises
    ------
    varnet.io.readers.InputFileError
        If the file cannot be opened as NetCDF.
    """
    with readers._open(Path(path)) as ds:
        text = str(ds.getncattr("date_created")) if "date_created" in ds.ncattrs() else None
    return text or None

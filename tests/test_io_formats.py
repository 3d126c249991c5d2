"""File formats: names, writers, the reader, CF compliance, determinism, atomicity, bad inputs."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from varnet.io import writers
from varnet.io.names import (
    AlongTrackName,
    GhrsstName,
    alongtrack_filename,
    ghrsst_filename,
    parse_alongtrack_filename,
    parse_ghrsst_filename,
)
from varnet.io.readers import (
    AlongTrack,
    InputFileError,
    concat_alongtrack,
    read_alongtrack,
    read_sst,
)
from varnet.io.writers import write_alongtrack, write_sst

DAY = dt.date(2020, 1, 15)
PROD = dt.date(2020, 1, 17)
NOON = int((dt.datetime(2020, 1, 15, 12) - dt.datetime(1981, 1, 1)).total_seconds())


# --------------------------------------------------------------------------------------------
# helpers


def _track(n: int = 50, seed: int = 0) -> dict:
    """Along-track arguments for ``write_alongtrack``: sorted microsecond times within DAY."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(DAY.isoformat(), "us")
    offsets = np.sort(rng.choice(86_400_000_000, size=n, replace=False))
    lon = rng.uniform(-180.0, 180.0, n)
    lon[:3] = [-180.0, 179.9999999, -0.0000004]
    return {
        "time": (start + offsets.astype("timedelta64[us]")).astype("datetime64[ns]"),
        "longitude": lon,
        "latitude": rng.uniform(-66.0, 66.0, n),
        "sla_unfiltered": rng.normal(0.0, 0.2, n),
        "sla_filtered": rng.normal(0.0, 0.2, n),
        "mdt": rng.normal(0.0, 0.5, n),
        "mission": "j3",
        "product": "nrt",
        "production_day": PROD,
    }


def _at_path(tmp_path: Path, mission: str = "j3") -> Path:
    return tmp_path / alongtrack_filename("nrt", mission, DAY, PROD)


def _write_track(tmp_path: Path, **changes) -> Path:
    args = _track() | changes
    return write_alongtrack(_at_path(tmp_path, args["mission"]), **args)


def _grid(ny: int = 6, nx: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = np.linspace(-10.0, 15.0, ny)
    lon = np.linspace(-20.0, 15.0, nx)
    sst = 290.0 + 5.0 * rng.random((ny, nx))
    return lat, lon, sst


def _craft_alongtrack(path: Path, *, time_units: str = "days since 1950-01-01 00:00:00",
                      sla=None, lat=None, sla_units: str | None = "m",
                      sla_name: str = "sla_filtered") -> Path:
    """A plain (unpacked, float64) along-track file, for values the writer refuses to pack."""
    n = 4
    start = (np.datetime64(DAY.isoformat()) - np.datetime64("1950-01-01")).astype(int)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", n)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = time_units
        t[:] = start + np.arange(n) / 24.0
        for name, values in (("longitude", np.arange(n) + 10.0),
                             ("latitude", np.arange(n) if lat is None else lat)):
            v = ds.createVariable(name, "f8", ("time",))
            v.units = "degrees_east" if name == "longitude" else "degrees_north"
            v[:] = values
        v = ds.createVariable(sla_name, "f8", ("time",))
        if sla_units is not None:
            v.units = sla_units
        v[:] = np.full(n, 0.1) if sla is None else sla
    return path


def _craft_sst(path: Path, *, sst=None, units: str = "kelvin", times=(NOON,),
               lat=None, lon=None) -> Path:
    """A plain float32 GHRSST-like L4 file (time in seconds since 1981, 12:00 of DAY)."""
    lat = np.array([0.0, 1.0, 2.0]) if lat is None else np.asarray(lat)
    lon = np.array([10.0, 11.0]) if lon is None else np.asarray(lon)
    shape = (len(times), lat.size, lon.size)
    with netCDF4.Dataset(path, "w") as ds:
        for name, size in zip(("time", "lat", "lon"), shape, strict=True):
            ds.createDimension(name, size)
        t = ds.createVariable("time", "i4", ("time",))
        t.units = "seconds since 1981-01-01 00:00:00"
        t[:] = np.asarray(times)
        for name, values, units_ in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            v = ds.createVariable(name, "f4", (name,))
            v.units = units_
            v[:] = values
        v = ds.createVariable("analysed_sst", "f4", ("time", "lat", "lon"))
        v.units = units
        v[:] = np.full(shape, 290.0) if sst is None else np.broadcast_to(sst, shape)
    return path


def _sst_path(tmp_path: Path, level: str = "L4") -> Path:
    return tmp_path / ghrsst_filename(DAY, level)


def _expect_error(call, path: Path, *words: str) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        call(path)
    err = info.value
    message = str(err)
    assert path.name in message
    assert message == f"{path}: {err.problem}"
    assert err.path == path
    for word in words:
        assert word in err.problem, (word, err.problem)
    return err


# --------------------------------------------------------------------------------------------
# names


def test_alongtrack_name_round_trip() -> None:
    name = alongtrack_filename("dt", "s3a", DAY, PROD)
    assert name == "dt_global_s3a_phy_l3_20200115_20200117.nc"
    assert parse_alongtrack_filename(name) == AlongTrackName("dt", "s3a", DAY, PROD)
    parsed = parse_alongtrack_filename("nrt_global_tpn_phy_l3_20021231_20030102.nc")
    assert parsed.mission == "tpn" and parsed.day == dt.date(2002, 12, 31)


@pytest.mark.parametrize("bad", [
    "nrt_global_J3_phy_l3_20200115_20200117.nc",  # uppercase mission
    "rt_global_j3_phy_l3_20200115_20200117.nc",  # unknown product
    "nrt_global_j3_phy_l3_20200115.nc",  # no production day
    "nrt_global_j3_phy_l3_20200115_20200117.nc.gz",
    "nrt_global_j-3_phy_l3_20200115_20200117.nc",
    "nrt_global_j3_phy_l3_20200231_20200301.nc",  # 31 February
])
def test_alongtrack_bad_names_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="expected") as info:
        parse_alongtrack_filename(bad)
    assert bad in str(info.value)


def test_alongtrack_filename_rejects_bad_parts() -> None:
    with pytest.raises(ValueError, match="product"):
        alongtrack_filename("rt", "j3", DAY, PROD)
    with pytest.raises(ValueError, match="mission"):
        alongtrack_filename("nrt", "Jason-3", DAY, PROD)


def test_ghrsst_name_round_trip() -> None:
    l4 = ghrsst_filename(DAY, "L4")
    l3 = ghrsst_filename(DAY, "L3S")
    assert l4 == "20200115120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc"
    assert l3 == "20200115120000-VARNET-L3S_GHRSST-SSTsubskin-OSSE-v02.0-fv01.0.nc"
    assert parse_ghrsst_filename(l4) == GhrsstName(DAY, "L4")
    assert parse_ghrsst_filename(l3) == GhrsstName(DAY, "L3S")
    with pytest.raises(ValueError, match="level"):
        ghrsst_filename(DAY, "L2P")  # type: ignore[arg-type]


@pytest.mark.parametrize(("real", "day", "level"), [
    ("20200115120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc", DAY, "L4"),
    ("20200115090000-JPL-L4_GHRSST-SSTfnd-MUR-GLOB-v02.0-fv04.1.nc", DAY, "L4"),
    ("20200115120000-STAR-L3S_GHRSST-SSTsubskin-LEO_Daily-ACSPO_V2.80-v02.0-fv01.0.nc",
     DAY, "L3S"),
    ("20200115000000-OSISAF-L3C_GHRSST-SSTsubskin-GOES16-ssteqc_goes16_20200115_000000"
     "-v02.0-fv01.0.nc", DAY, "L3C"),
    ("20200115235959-NAVO-L3U_GHRSST-SSTsubskin-VIIRS_NPP-ACSPO_V2.61-v02.0-fv01.0.nc",
     DAY, "L3U"),
])
def test_ghrsst_parses_real_names(real: str, day: dt.date, level: str) -> None:
    assert parse_ghrsst_filename(real) == GhrsstName(day, level)


@pytest.mark.parametrize("bad", [
    "20200115-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc",  # date only, no time
    "20200115120000-VARNET-L2P_GHRSST-SSTskin-OSSE-v02.0-fv01.0.nc",  # L2P is not gridded
    "20200115120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v01.0-fv01.0.nc",  # GDS 1
    "20201315120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc",  # month 13
    "sst_20200115.nc",
])
def test_ghrsst_bad_names_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="expected") as info:
        parse_ghrsst_filename(bad)
    assert bad in str(info.value)


# --------------------------------------------------------------------------------------------
# round trips


def test_alongtrack_round_trip(tmp_path: Path) -> None:
    args = _track()
    args["sla_filtered"][5] = np.nan  # a gap: dropped on reading
    path = write_alongtrack(_at_path(tmp_path), **args)
    assert path == _at_path(tmp_path)
    track = read_alongtrack(path)
    keep = np.ones(len(args["time"]), dtype=bool)
    keep[5] = False
    assert len(track) == keep.sum()
    np.testing.assert_array_equal(track.time, args["time"][keep])  # exact to the microsecond
    assert track.time.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_allclose(track.sla, args["sla_filtered"][keep], atol=0.0005 + 1e-12)
    np.testing.assert_allclose(track.mdt, args["mdt"][keep], atol=0.0005 + 1e-12)
    np.testing.assert_allclose(track.latitude, args["latitude"][keep], atol=5e-7 + 1e-12)
    assert ((track.longitude >= -180.0) & (track.longitude < 180.0)).all()
    dlon = np.mod(track.longitude - args["longitude"][keep] + 180.0, 360.0) - 180.0
    assert np.abs(dlon).max() <= 5e-7 + 1e-9
    assert set(track.mission) == {"j3"}
    assert track.source == str(path)
    unfiltered = read_alongtrack(path, variable="sla_unfiltered")
    assert len(unfiltered) == len(args["time"])
    np.testing.assert_allclose(unfiltered.sla, args["sla_unfiltered"], atol=0.0005 + 1e-12)
    with netCDF4.Dataset(path) as ds:  # stored in [0, 360) like CMEMS
        lon = ds["longitude"][:]
        assert lon.min() >= 0.0 and lon.max() < 360.0


def test_alongtrack_empty_pass(tmp_path: Path) -> None:
    empty = np.empty(0)
    path = write_alongtrack(
        _at_path(tmp_path), time=np.empty(0, dtype="datetime64[ns]"), longitude=empty,
        latitude=empty, sla_unfiltered=empty, sla_filtered=empty, mdt=empty, mission="j3",
        product="nrt", production_day=PROD,
    )
    track = read_alongtrack(path)
    assert len(track) == 0 and track.mdt is not None and track.mdt.size == 0
    with xr.open_dataset(path) as ds:
        assert ds.sizes["time"] == 0
        assert ds["sla_filtered"].attrs["units"] == "m"


def test_alongtrack_mission_from_attribute_or_unknown(tmp_path: Path) -> None:
    path = write_alongtrack(tmp_path / "renamed.nc", **(_track() | {"mission": "s3b"}))
    assert set(read_alongtrack(path).mission) == {"s3b"}
    crafted = _craft_alongtrack(tmp_path / "plain.nc")
    assert set(read_alongtrack(crafted).mission) == {"unknown"}


def test_alongtrack_fill_values_are_dropped(tmp_path: Path) -> None:
    path = _craft_alongtrack(tmp_path / "gaps.nc", sla=[0.1, np.nan, 0.2, np.nan])
    track = read_alongtrack(path)
    np.testing.assert_allclose(track.sla, [0.1, 0.2])
    assert track.mdt is None


@pytest.mark.parametrize("units", ["m", "meter", "meters", "metre", "metres"])
def test_alongtrack_accepts_metre_spellings(tmp_path: Path, units: str) -> None:
    assert len(read_alongtrack(_craft_alongtrack(tmp_path / "u.nc", sla_units=units))) == 4


def test_concat_alongtrack(tmp_path: Path) -> None:
    a = read_alongtrack(_write_track(tmp_path, mission="j3"))
    b_args = _track(20, seed=3) | {"mission": "s3a", "mdt": None}
    b = read_alongtrack(write_alongtrack(_at_path(tmp_path, "s3a"), **b_args))
    both = concat_alongtrack([a, b])
    assert len(both) == len(a) + len(b)
    assert (np.diff(both.time) >= np.timedelta64(0)).all()
    assert sorted(set(both.mission)) == ["j3", "s3a"]
    assert (both.mission == "s3a").sum() == len(b)
    assert both.mdt is not None and np.isnan(both.mdt).sum() == len(b)
    assert both.source == f"{a.source}; {b.source}"
    assert len(concat_alongtrack([])) == 0
    with pytest.raises(ValueError, match="shape"):
        AlongTrack(np.array(["j3"]), a.time, a.longitude, a.latitude, a.sla, None, "x")


def test_sst_l4_round_trip(tmp_path: Path) -> None:
    lat, lon, sst = _grid()
    water = np.ones(sst.shape, dtype=bool)
    water[0, :2] = False
    error = np.full(sst.shape, 0.37)
    path = write_sst(_sst_path(tmp_path), day=DAY, lat=lat, lon=lon, sst_k=sst, level="L4",
                     mask=water, error_k=error)
    field = read_sst(path)
    assert field.day == DAY and field.level == "L4" and field.source == str(path)
    np.testing.assert_array_equal(field.lat, lat)
    np.testing.assert_array_equal(field.lon, lon)
    expected = np.where(water, sst, np.nan)
    np.testing.assert_allclose(field.sst_k, expected, atol=0.005 + 1e-9)
    assert np.isnan(field.sst_k[0, :2]).all()


def test_sst_l3s_round_trip_with_gaps_and_quality(tmp_path: Path) -> None:
    lat, lon, sst = _grid()
    sst[2:4, 3:6] = np.nan  # cloud
    quality = np.where(np.isfinite(sst), 5, 0)
    quality[5, 7] = 2  # low quality: rejected by default
    path = write_sst(_sst_path(tmp_path, "L3S"), day=DAY, lat=lat, lon=lon, sst_k=sst,
                     level="L3S", quality_level=quality)
    field = read_sst(path)
    assert field.level == "L3"
    expected = sst.copy()
    expected[5, 7] = np.nan
    np.testing.assert_allclose(field.sst_k, expected, atol=0.005 + 1e-9)
    assert np.isfinite(read_sst(path, min_quality_level=2).sst_k[5, 7])


def test_sst_longitudes_0_360_are_rolled_and_lat_flipped(tmp_path: Path) -> None:
    lat = np.array([20.0, 10.0, 0.0])  # descending
    lon = np.arange(0.0, 360.0, 60.0)  # 0..300
    sst = 280.0 + np.arange(lat.size)[:, None] + 0.1 * lon[None, :] / 60.0
    path = write_sst(_sst_path(tmp_path), day=DAY, lat=lat, lon=lon, sst_k=sst, level="L4")
    field = read_sst(path)
    np.testing.assert_array_equal(field.lat, [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(field.lon, [-180.0, -120.0, -60.0, 0.0, 60.0, 120.0])
    expected = sst[::-1][:, [3, 4, 5, 0, 1, 2]]
    np.testing.assert_allclose(field.sst_k, expected, atol=0.005 + 1e-9)


@pytest.mark.parametrize("units", ["celsius", "degC", "degree_Celsius"])
def test_sst_celsius_converted(tmp_path: Path, units: str) -> None:
    path = _craft_sst(tmp_path / "c.nc", sst=20.0, units=units)
    field = read_sst(path)
    np.testing.assert_allclose(field.sst_k, 293.15, atol=1e-4)
    assert field.day == DAY


# --------------------------------------------------------------------------------------------
# what other tools see


def test_xarray_sees_cmems_layout(tmp_path: Path) -> None:
    path = _write_track(tmp_path)
    with xr.open_dataset(path) as ds:
        assert ds["time"].dtype == np.dtype("datetime64[ns]")
        assert ds["time"].encoding["units"] == "days since 1950-01-01 00:00:00"
        assert ds["time"].encoding["dtype"] == np.dtype("float64")
        assert ds["time"].attrs["standard_name"] == "time"
        for name in ("longitude", "latitude"):
            assert ds[name].encoding["dtype"] == np.dtype("int32")
            assert ds[name].encoding["scale_factor"] == 1e-6
            assert "_FillValue" in ds[name].encoding
        for name, std in (("sla_filtered", "sea_surface_height_above_sea_level"),
                          ("sla_unfiltered", "sea_surface_height_above_sea_level"),
                          ("mdt", "sea_surface_height_above_geoid")):
            var = ds[name]
            assert var.encoding["dtype"] == np.dtype("int16")
            assert var.encoding["scale_factor"] == 0.001
            assert var.encoding["_FillValue"] == 32767
            assert var.encoding["zlib"] is True
            assert var.attrs["units"] == "m" and var.attrs["standard_name"] == std
            assert "long_name" in var.attrs
            assert set(var.coords) >= {"longitude", "latitude"}
        assert ds["mdt"].attrs["long_name"] == "Mean dynamic topography"
        g = ds.attrs
        assert g["Conventions"] == "CF-1.8" and g["platform"] == "Jason-3" and g["mission"] == "j3"
        assert g["date_created"].startswith(PROD.isoformat())
        assert g["time_coverage_start"].startswith(DAY.isoformat())
        assert -90 <= g["geospatial_lat_min"] < g["geospatial_lat_max"] <= 90
        assert 0 <= g["geospatial_lon_min"] < g["geospatial_lon_max"] < 360
        for key in ("title", "institution", "source", "product_type", "time_coverage_end"):
            assert g[key]


@pytest.mark.parametrize("level", ["L4", "L3S"])
def test_xarray_sees_ghrsst_layout(tmp_path: Path, level: str) -> None:
    lat, lon, sst = _grid()
    path = write_sst(_sst_path(tmp_path, level), day=DAY, lat=lat, lon=lon, sst_k=sst,
                     level=level, error_k=np.full(sst.shape, 0.4))
    name = "analysed_sst" if level == "L4" else "sea_surface_temperature"
    with xr.open_dataset(path) as ds:
        assert ds.sizes == {"time": 1, "lat": lat.size, "lon": lon.size}
        assert ds["time"].values[0] == np.datetime64(f"{DAY.isoformat()}T12:00", "ns")
        assert ds["time"].encoding["units"] == "seconds since 1981-01-01 00:00:00"
        assert ds["time"].encoding["dtype"] == np.dtype("int32")
        for c, axis in (("lat", "Y"), ("lon", "X")):
            assert ds[c].dtype == np.float32 and ds[c].attrs["axis"] == axis
            assert ds[c].attrs["units"] in ("degrees_north", "degrees_east")
        var = ds[name]
        assert var.dims == ("time", "lat", "lon")
        assert var.attrs["units"] == "kelvin"
        assert var.encoding["dtype"] == np.dtype("int16")
        assert var.encoding["scale_factor"] == 0.01 and var.encoding["add_offset"] == 273.15
        assert var.encoding["_FillValue"] == -32768
        g = ds.attrs
        assert g["gds_version_id"] == "2.0" and g["processing_level"] == level
        assert g["Conventions"] == "CF-1.8, ACDD-1.3"
        assert g["date_created"].startswith(DAY.isoformat())
        if level == "L4":
            assert var.attrs["standard_name"] == "sea_surface_foundation_temperature"
            assert ds["mask"].attrs["flag_meanings"] == "water land optional_lake_surface sea_ice"
            assert list(ds["mask"].attrs["flag_masks"]) == [1, 2, 4, 8]
            assert "analysis_error" in ds
        else:
            assert var.attrs["standard_name"] == "sea_surface_subskin_temperature"
            assert ds["quality_level"].attrs["flag_meanings"].split()[-1] == "best_quality"
            assert int(ds["quality_level"].max()) == 5


@pytest.mark.parametrize("kind", ["alongtrack", "L4", "L3S"])
def test_cf_compliance(tmp_path: Path, cf_failures, kind: str) -> None:
    if kind == "alongtrack":
        path = _write_track(tmp_path)
    else:
        lat, lon, sst = _grid()
        sst[1, 1] = np.nan
        path = write_sst(_sst_path(tmp_path, kind), day=DAY, lat=lat, lon=lon, sst_k=sst,
                         level=kind, error_k=np.full(sst.shape, 0.4))
    assert cf_failures(path) == []


# --------------------------------------------------------------------------------------------
# determinism and atomicity


def test_identical_input_gives_identical_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    args = _track()
    pa = write_alongtrack(_at_path(a), **args)
    pb = write_alongtrack(_at_path(b), **args)
    assert pa.read_bytes() == pb.read_bytes()
    lat, lon, sst = _grid()
    for level in ("L4", "L3S"):
        sa = write_sst(_sst_path(a, level), day=DAY, lat=lat, lon=lon, sst_k=sst, level=level)
        sb = write_sst(_sst_path(b, level), day=DAY, lat=lat, lon=lon, sst_k=sst, level=level)
        assert sa.read_bytes() == sb.read_bytes()


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = _write_track(tmp_path)
    lat, lon, sst = _grid()
    write_sst(_sst_path(tmp_path), day=DAY, lat=lat, lon=lon, sst_k=sst, level="L4")
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, _sst_path(tmp_path).name])


def test_failed_write_keeps_existing_file(tmp_path: Path, monkeypatch) -> None:
    path = _at_path(tmp_path)
    path.write_bytes(b"previous version")
    with pytest.raises(ValueError, match="sla_filtered"):  # fails inside the write
        write_alongtrack(path, **(_track() | {"sla_filtered": np.full(50, 40.0)}))
    assert path.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == [path.name]

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(writers.os, "replace", broken_replace)
    lat, lon, sst = _grid()
    with pytest.raises(OSError, match="disk full"):
        write_sst(path, day=DAY, lat=lat, lon=lon, sst_k=sst, level="L4")
    assert path.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == [path.name]


# --------------------------------------------------------------------------------------------
# bad along-track inputs


def test_alongtrack_missing_file(tmp_path: Path) -> None:
    _expect_error(read_alongtrack, _at_path(tmp_path), "does not exist")


def test_alongtrack_not_netcdf(tmp_path: Path) -> None:
    path = _at_path(tmp_path)
    path.write_text("<html>502 Bad Gateway</html>")
    _expect_error(read_alongtrack, path, "cannot be opened as NetCDF")


def test_alongtrack_truncated(tmp_path: Path) -> None:
    path = _write_track(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_error(read_alongtrack, path, "truncated")


def test_alongtrack_corrupt_bytes_never_escape_as_other_errors(tmp_path: Path) -> None:
    path = write_alongtrack(_at_path(tmp_path), **_track(3000))
    good = path.read_bytes()
    failures = 0
    for frac in np.linspace(0.05, 0.95, 10):
        corrupt = bytearray(good)
        at = int(len(good) * frac)
        corrupt[at:at + 64] = bytes(range(64))
        path.write_bytes(bytes(corrupt))
        try:
            read_alongtrack(path)
        except InputFileError as err:
            assert path.name in str(err) and ("corrupt" in err.problem or "layout" in err.problem)
            failures += 1
    assert failures > 0


def test_alongtrack_missing_variable(tmp_path: Path) -> None:
    path = _write_track(tmp_path, sla_unfiltered=None)
    err = _expect_error(lambda p: read_alongtrack(p, variable="sla_unfiltered"), path,
                        "'sla_unfiltered' not found")
    assert "sla_filtered" in err.problem  # lists what exists


def test_alongtrack_missing_default_variable(tmp_path: Path) -> None:
    path = _craft_alongtrack(_at_path(tmp_path), sla_name="sla_unfiltered")
    _expect_error(read_alongtrack, path, "'sla_filtered' not found", "sla_unfiltered")


@pytest.mark.parametrize("units, factor", [("cm", 0.01), ("centimeters", 0.01), ("mm", 0.001)])
def test_alongtrack_in_centimetres_or_millimetres_is_converted(tmp_path: Path, units: str,
                                                               factor: float) -> None:
    path = _craft_alongtrack(_at_path(tmp_path), sla_units=units, sla=[12.0, -3.5, 0.0, 40.0])
    np.testing.assert_allclose(read_alongtrack(path).sla,
                               np.array([12.0, -3.5, 0.0, 40.0]) * factor, rtol=1e-15)


def test_alongtrack_units_not_a_length(tmp_path: Path) -> None:
    path = _craft_alongtrack(_at_path(tmp_path), sla_units="K")
    _expect_error(read_alongtrack, path, "'sla_filtered'", "'K'", "metres")


def test_alongtrack_units_missing(tmp_path: Path) -> None:
    path = _craft_alongtrack(_at_path(tmp_path), sla_units=None)
    _expect_error(read_alongtrack, path, "'sla_filtered'", "no units")


def test_alongtrack_sla_above_limit(tmp_path: Path) -> None:
    sla = _track()["sla_filtered"]
    sla[7] = -6.2
    path = _write_track(tmp_path, sla_filtered=sla)
    _expect_error(read_alongtrack, path, "'sla_filtered'", "limit 5 m", "-6.2")
    assert len(read_alongtrack(path, max_abs_sla_m=10.0)) == 50


def test_alongtrack_infinite_values(tmp_path: Path) -> None:
    path = _craft_alongtrack(_at_path(tmp_path), sla=[0.1, np.inf, 0.0, -np.inf])
    _expect_error(read_alongtrack, path, "'sla_filtered'", "2 infinite")


def test_alongtrack_latitude_out_of_range(tmp_path: Path) -> None:
    lat = _track()["latitude"]
    lat[3] = 95.0
    path = _write_track(tmp_path, latitude=lat)
    _expect_error(read_alongtrack, path, "'latitude'", "outside [-90, 90]", "95")


def test_alongtrack_duplicate_times(tmp_path: Path) -> None:
    time = _track()["time"].copy()
    time[10] = time[9]
    path = _write_track(tmp_path, time=time)
    _expect_error(read_alongtrack, path, "'time'", "duplicate", "indices 9 and 10")


def test_alongtrack_times_decreasing(tmp_path: Path) -> None:
    time = _track()["time"].copy()
    time[[20, 21]] = time[[21, 20]]
    path = _write_track(tmp_path, time=time)
    _expect_error(read_alongtrack, path, "'time'", "not in increasing order", "index 21")


def test_alongtrack_times_outside_named_day(tmp_path: Path) -> None:
    time = _track()["time"] + np.timedelta64(6, "h")  # the last points spill into the next day
    path = _write_track(tmp_path, time=time)
    _expect_error(read_alongtrack, path, "outside the data day", DAY.isoformat())


def test_alongtrack_bad_time_units(tmp_path: Path) -> None:
    path = _craft_alongtrack(_at_path(tmp_path), time_units="days after the launch")
    _expect_error(read_alongtrack, path, "'time'", "days after the launch", "since")


# --------------------------------------------------------------------------------------------
# bad SST inputs


def test_sst_missing_file(tmp_path: Path) -> None:
    _expect_error(read_sst, _sst_path(tmp_path), "does not exist")


def test_sst_truncated(tmp_path: Path) -> None:
    lat, lon, sst = _grid(40, 60)
    path = write_sst(_sst_path(tmp_path), day=DAY, lat=lat, lon=lon, sst_k=sst, level="L4")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    _expect_error(read_sst, path, "truncated")


def test_sst_not_netcdf(tmp_path: Path) -> None:
    path = _sst_path(tmp_path)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    _expect_error(read_sst, path, "cannot be opened as NetCDF")


def test_sst_missing_variable(tmp_path: Path) -> None:
    path = _sst_path(tmp_path)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("lat", 2)
        ds.createVariable("sst", "f4", ("lat",))
    _expect_error(read_sst, path, "'analysed_sst'", "'sea_surface_temperature'", "sst")


def test_sst_bad_units(tmp_path: Path) -> None:
    path = _craft_sst(_sst_path(tmp_path), sst=68.0, units="degF")
    _expect_error(read_sst, path, "'analysed_sst'", "'degF'", "kelvin")


@pytest.mark.parametrize("value", [330.0, 250.0, np.inf])
def test_sst_values_out_of_range(tmp_path: Path, value: float) -> None:
    sst = np.full((3, 2), 290.0)
    sst[1, 1] = value
    path = _craft_sst(_sst_path(tmp_path), sst=sst)
    word = "infinite" if np.isinf(value) else "outside the plausible range [265, 315] K"
    _expect_error(read_sst, path, "'analysed_sst'", word)


def test_sst_out_of_range_ignored_where_masked(tmp_path: Path) -> None:
    lat, lon, sst = _grid()
    water = np.ones(sst.shape, dtype=bool)
    water[0, 0] = False
    path = _sst_path(tmp_path)
    write_sst(path, day=DAY, lat=lat, lon=lon, sst_k=sst, level="L4", mask=water)
    with netCDF4.Dataset(path, "a") as ds:  # garbage under land, as some products have
        ds["analysed_sst"].set_auto_maskandscale(False)
        ds["analysed_sst"][0, 0, 0] = 30000
    assert np.isnan(read_sst(path).sst_k[0, 0])


def test_sst_several_times(tmp_path: Path) -> None:
    path = _craft_sst(_sst_path(tmp_path), times=(NOON, NOON + 86_400))
    _expect_error(read_sst, path, "'analysed_sst'", "2 times", "length 1")


def test_sst_time_disagrees_with_name(tmp_path: Path) -> None:
    path = _craft_sst(_sst_path(tmp_path), times=(NOON + 3 * 86_400,))
    _expect_error(read_sst, path, "'time'", "2020-01-18", "named in the file name")


def test_sst_latitude_out_of_range(tmp_path: Path) -> None:
    path = _craft_sst(_sst_path(tmp_path), lat=[80.0, 90.0, 100.0])
    _expect_error(read_sst, path, "'lat'", "outside [-90, 90]")


def test_sst_longitude_wraps_onto_itself(tmp_path: Path) -> None:
    path = _craft_sst(_sst_path(tmp_path), lon=[0.0, 360.0])
    _expect_error(read_sst, path, "'lon'", "repeats")

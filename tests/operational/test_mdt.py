"""Tests of varnet.operational.mdt: the MDT of a product, from a file or from the inputs."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from varnet.config import ConfigError, dump_toml
from varnet.datamodel.files import read_alongtrack_files
from varnet.datamodel.grid import Grid, block_mean
from varnet.io.names import parse_alongtrack_filename
from varnet.io.readers import AlongTrack, read_truth
from varnet.operational.config import load_ops_config
from varnet.operational.mdt import (
    MDT_KEY,
    MIN_CELLS,
    mdt_from_cells,
    read_mdt_file,
    track_mdt_cells,
)
from varnet.operational.products import file_sha256

# a product grid in the North Atlantic, longitudes west of Greenwich (negative)
LAT = 34.9 + 0.2 * np.arange(32)
LON = -63.1 + 0.2 * np.arange(32)


def linear(lat, lon_file):
    """A field bilinear interpolation reproduces exactly (linear in both coordinates)."""
    return 0.4 + 0.02 * (lat - 35.0)[:, None] - 0.003 * (lon_file - 300.0)[None, :]


def mdt_file(path: Path, *, lat=None, lon=None, values=None, units="m", dims="cnes",
             name="mdt") -> Path:
    """An MDT file like the CNES-CLS ones: ``mdt(time, latitude, longitude)``, longitudes
    0..360 at 0.25 degree (``dims="cnes"``); or ``mdt(lon, lat)`` (``dims="transposed"``)
    with latitudes from north to south."""
    lat = np.arange(-80.0, 80.01, 0.25) if lat is None else lat
    lon = np.arange(0.125, 360.0, 0.25) if lon is None else lon
    values = linear(lat, lon) if values is None else values
    with netCDF4.Dataset(path, "w") as ds:
        if dims == "cnes":
            ds.createDimension("time", 1)
        ds.createDimension("latitude" if dims == "cnes" else "lat", lat.size)
        ds.createDimension("longitude" if dims == "cnes" else "lon", lon.size)
        ylat, xlon = ("latitude", "longitude") if dims == "cnes" else ("lat", "lon")
        y = ds.createVariable(ylat, "f8", (ylat,))
        y.units, y.standard_name = "degrees_north", "latitude"
        x = ds.createVariable(xlon, "f8", (xlon,))
        x.units, x.standard_name = "degrees_east", "longitude"
        if dims == "cnes":
            y[:], x[:] = lat, lon
            var = ds.createVariable(name, "i4", ("time", ylat, xlon), fill_value=-2147483647)
            var.scale_factor = 0.0001  # packed integers, as the CNES-CLS files
            var.units = units
            var[:] = np.ma.array(np.nan_to_num(values), mask=~np.isfinite(values))[None]
        else:  # (lon, lat), north to south
            y[:] = lat[::-1]
            x[:] = lon
            var = ds.createVariable(name, "f4", (xlon, ylat))
            var.units = units
            var[:] = values[::-1].T
    return path


# --------------------------------------------------------------------------------------------
# a configured file


def test_a_cnes_like_file_is_interpolated_bilinearly_onto_the_grid(tmp_path):
    path = mdt_file(tmp_path / "mdt_cnes_cls.nc")
    mdt = read_mdt_file(path, LAT, LON)
    # the product's -63.1 E is the file's 296.9 E; packed to 1e-4 m
    np.testing.assert_allclose(mdt.values, linear(LAT, LON + 360.0), rtol=0, atol=1e-4)
    assert mdt.source.startswith(f"file mdt_cnes_cls.nc (sha256 {file_sha256(path)})")
    # the same field as (lon, lat), latitudes north to south, longitudes -180..180: same MDT
    lat, lon = np.arange(30.0, 45.01, 0.1), np.arange(-70.0, -50.0, 0.1)
    other = read_mdt_file(mdt_file(tmp_path / "t.nc", lat=lat, lon=lon, dims="transposed",
                                   values=linear(lat, lon + 360.0)), LAT, LON)
    np.testing.assert_allclose(other.values, linear(LAT, LON + 360.0), rtol=0, atol=1e-6)


def test_a_global_file_wraps_around_its_seam(tmp_path):
    """A product across the file's 0/360 seam interpolates between its last and first
    columns."""
    lat = np.arange(-10.0, 10.01, 0.5)
    lon = np.arange(0.0, 360.0, 0.5)  # 0 ... 359.5
    values = np.broadcast_to(np.cos(np.deg2rad(lon))[None, :], (lat.size, lon.size))
    path = mdt_file(tmp_path / "g.nc", lat=lat, lon=lon, values=values)
    plat, plon = np.array([0.0, 1.0]), np.array([-0.25, 0.0, 0.25])
    mdt = read_mdt_file(path, plat, plon)
    # -0.25 is half-way between 359.5 and 360 (= 0): the mean of the two columns
    expected = [0.5 * (np.cos(np.deg2rad(359.5)) + 1.0), 1.0, 0.5 * (1.0 + np.cos(np.deg2rad(0.5)))]
    np.testing.assert_allclose(mdt.values, [expected, expected], atol=1e-4)


def test_missing_values_are_left_out_of_the_weights(tmp_path):
    lat, lon = np.arange(30.0, 45.01, 1.0), np.arange(290.0, 310.01, 1.0)
    values = linear(lat, lon)
    values[5, 5] = np.nan  # a land cell of the MDT grid: 35 N, 295 E
    path = mdt_file(tmp_path / "m.nc", lat=lat, lon=lon, values=values)
    mdt = read_mdt_file(path, np.array([35.5, 40.0]), np.array([-64.5, -60.0]))
    # 35.5 N, 295.5 E: three wet corners, weights 1/4 each, renormalised
    corners = [values[5, 6], values[6, 5], values[6, 6]]
    assert mdt.values[0, 0] == pytest.approx(np.mean(corners), abs=1e-4)
    assert mdt.values[1, 1] == pytest.approx(linear(np.array([40.0]), np.array([300.0]))[0, 0],
                                             abs=1e-4)


@pytest.mark.parametrize(("kind", "message"), [
    ("no-variable", "has no variable 'mdt' \\(found: latitude, longitude, topo\\)"),
    ("centimetres", "variable 'mdt' has units 'cm'; expected metres"),
    ("small", "does not cover the product region: its grid spans 36 to 45 N"),
    ("not-netcdf", "cannot be opened as NetCDF"),
    ("all-fill", "'mdt' holds no value over the product region"),
    ("missing", "does not exist"),
])
def test_a_file_that_cannot_serve_is_refused_naming_the_key_and_the_file(tmp_path, kind,
                                                                         message):
    path = tmp_path / f"{kind}.nc"
    if kind == "no-variable":
        mdt_file(path, name="topo")
    elif kind == "centimetres":
        mdt_file(path, units="cm")
    elif kind == "small":
        mdt_file(path, lat=np.arange(36.0, 45.01, 0.25))
    elif kind == "not-netcdf":
        path.write_text("not a NetCDF file\n")
    elif kind == "all-fill":
        lat = np.arange(-80.0, 80.01, 0.25)
        lon = np.arange(0.125, 360.0, 0.25)
        mdt_file(path, values=np.full((lat.size, lon.size), np.nan))
    with pytest.raises(ConfigError, match=message) as caught:
        read_mdt_file(path, LAT, LON)
    assert caught.value.key == MDT_KEY == "production.mdt"
    assert str(path) in str(caught.value) and str(caught.value).startswith("production.mdt: ")


def test_the_configured_path_is_resolved_from_the_configuration_folder(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    mdt_file(tmp_path / "mdt.nc")
    mapping = {
        "name": "x",
        "region": {"lat_min": 34.9, "lon_min": -63.1, "resolution_deg": 0.2, "nlat": 32,
                   "nlon": 32},
        "model": {"path": "model.onnx"},
        "paths": {k: k for k in ("inbox", "archive", "quarantine", "products", "state")},
        "production": {"mdt": "../mdt.nc"},
    }
    toml = folder / "ops.toml"
    toml.write_text(dump_toml(mapping))
    assert load_ops_config(toml).production.mdt == str(tmp_path / "mdt.nc")
    mapping.pop("production")
    toml.write_text(dump_toml(mapping))
    assert load_ops_config(toml).production.mdt == ""
    mapping["production"] = {"mdt": "missing.nc"}
    toml.write_text(dump_toml(mapping))
    with pytest.raises(ConfigError, match=r"production.mdt: MDT file .*missing.nc does not "
                       "exist") as caught:
        load_ops_config(toml)
    assert str(toml) in str(caught.value)


# --------------------------------------------------------------------------------------------
# from the along-track inputs


def _track(lat, lon, mdt):
    n = len(lat)
    return AlongTrack(np.full(n, "j3"), np.full(n, np.datetime64("2012-10-15", "ns")),
                      np.asarray(lon, float), np.asarray(lat, float), np.zeros(n),
                      None if mdt is None else np.asarray(mdt, float), "test")


def test_cell_means_sit_at_their_points_mean_position():
    lat, lon = np.array([35.0, 35.1, 35.2]), np.array([-63.0, -62.8])
    # two points in the first cell, one in the last, one far away, one without an MDT
    track = _track([34.98, 35.01, 35.21, 50.0, 35.1], [-63.05, -62.97, -62.79, -62.9, -62.9],
                   [1.0, 2.0, 3.0, 9.0, np.nan])
    cells = track_mdt_cells(track, lat, lon, margin_deg=0.1)
    assert cells.points == 3 and len(cells) == 2
    order = np.argsort(cells.mdt)
    np.testing.assert_allclose(cells.mdt[order], [1.5, 3.0])
    np.testing.assert_allclose(cells.lat[order], [34.995, 35.21])
    np.testing.assert_allclose(cells.lon[order], [-63.01, -62.79])
    # longitudes in another convention land in the grid's
    east = track_mdt_cells(_track([34.98], [296.95], [1.0]), lat, lon, margin_deg=0.1)
    np.testing.assert_allclose(east.lon, [-63.05])
    assert track_mdt_cells(_track([35.0], [-63.0], None), lat, lon) is None  # no mdt at all
    assert track_mdt_cells(_track([35.0], [-63.0], [np.nan]), lat, lon) is None


def test_too_few_or_aligned_cells_give_no_mdt():
    lat, lon = LAT, LON
    two = track_mdt_cells(_track([35.0, 36.0], [-63.0, -62.0], [0.1, 0.2]), lat, lon)
    assert len(two) == 2 < MIN_CELLS and mdt_from_cells(two, lat, lon) is None
    line = np.linspace(35.0, 40.0, 30)
    aligned = track_mdt_cells(_track(line, -63.0 + 0 * line, 0.1 * line), lat, lon)
    assert len(aligned) >= MIN_CELLS and mdt_from_cells(aligned, lat, lon) is None
    assert mdt_from_cells(None, lat, lon) is None


def test_linear_fields_are_recovered_exactly_inside_the_tracks():
    """Two crossing families of tracks sample a linear MDT: inside their hull the estimate is
    exact (linear interpolation), outside it takes the nearest cell."""
    rng = np.random.default_rng(1)
    lats, lons = [], []
    for k in range(-8, 9):  # ascending and descending passes, 0.8 degree apart
        s = np.linspace(0.0, 1.0, 400)
        lats += list(33.0 + 10.0 * s)
        lons += list(-66.0 + 0.8 * k + 6.0 * s)
        lats += list(33.0 + 10.0 * s)
        lons += list(-54.0 + 0.8 * k - 6.0 * s)
    lat_p, lon_p = np.array(lats), np.array(lons) + rng.normal(0, 1e-3, len(lons))

    def field(la, lo):
        return 0.3 - 0.04 * (la - 38.0) + 0.01 * (lo + 60.0)

    cells = track_mdt_cells(_track(lat_p, lon_p, field(lat_p, lon_p)), LAT, LON)
    mdt = mdt_from_cells(cells, LAT, LON, what="3 test files")
    truth = field(LAT[:, None], LON[None, :])
    assert "along-track mdt of 3 test files" in mdt.source
    assert f"{cells.points} points" in mdt.source
    np.testing.assert_allclose(mdt.values, truth, rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def ocean(tiny_ocean):
    return tiny_ocean.out_dir


def test_the_estimate_from_the_tiny_oceans_tracks_matches_its_true_mdt(ocean):
    """The MDT of the points a product of the tiny test model reads (window of 3 days and the
    OI's reach of 7 days on either side: 17 days of 4 nadirs), on its 0.2 degree grid.

    Measured on days 10, 15 and 20 of October 2012: RMS 0.69 to 0.75 mm, at most 12.6 mm (in
    the corners of the domain, outside the tracks' convex hull, where the nearest cell's value
    is taken); two cells in from the edges, RMS 0.13 mm and at most 0.4 mm. The true MDT spans
    0.32 m (a zonal jet's). The tolerances below are twice the measured errors.
    """
    with read_truth(ocean / "truth.nc") as truth:
        lat, lon, true_fine = truth["lat"].values, truth["lon"].values, truth["mdt"].values
    grid = Grid(lat, lon).coarsened(2)
    true = block_mean(true_fine, 2)  # the truth on the product grid
    assert true.max() - true.min() > 0.3
    files = sorted((ocean / "alongtrack").glob("*.nc"))
    for day in (dt.date(2012, 10, 10), dt.date(2012, 10, 15), dt.date(2012, 10, 20)):
        read = [p for p in files if abs(parse_alongtrack_filename(p.name).day - day)
                <= dt.timedelta(days=8)]
        cells = track_mdt_cells(read_alongtrack_files(read), grid.lat, grid.lon)
        mdt = mdt_from_cells(cells, grid.lat, grid.lon)
        error = mdt.values - true
        assert np.isfinite(error).all()
        assert np.sqrt(np.mean(error**2)) < 1.5e-3, day
        assert np.abs(error).max() < 0.025, day
        inner = error[2:-2, 2:-2]
        assert np.sqrt(np.mean(inner**2)) < 0.3e-3 and np.abs(inner).max() < 1e-3, day


def test_a_truth_file_serves_as_an_mdt_file(ocean, tmp_path):
    """The synthetic ocean's truth.nc has ``mdt(lat, lon)`` in metres: as a configured MDT file
    it gives the true MDT on the product grid (the means of 2 x 2 fine cells)."""
    path = shutil.copy(ocean / "truth.nc", tmp_path / "truth.nc")
    with read_truth(path) as truth:
        lat, lon, true_fine = truth["lat"].values, truth["lon"].values, truth["mdt"].values
    grid = Grid(lat, lon).coarsened(2)
    mdt = read_mdt_file(path, grid.lat, grid.lon)
    np.testing.assert_allclose(mdt.values, block_mean(true_fine, 2), rtol=0, atol=1e-6)


def test_a_product_without_mdt_says_why():
    from varnet.operational.mdt import NO_MDT
    from varnet.operational.pipeline import ProductInputs, _no_mdt

    def inputs(cells):
        empty = np.zeros((1, 2, 2), np.float32)
        return ProductInputs([dt.date(2012, 10, 15)], {"oi": empty, "obs": empty, "sst": empty},
                             [], [], [], track_mdt=cells)

    assert _no_mdt(inputs(None)) == NO_MDT
    two = track_mdt_cells(_track([35.0, 36.0], [-63.0, -62.0], [0.1, 0.2]), LAT, LON)
    said = _no_mdt(inputs(two))
    assert said.startswith("none: ") and "only 2 cells" in said
    assert mdt_from_cells(two, LAT, LON) is None

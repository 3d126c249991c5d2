"""Tests of varnet.operational.products: names, CF content, atomic writes, latest links."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import varnet
from varnet.operational import products
from varnet.operational.derived import derive_fields
from varnet.operational.products import (
    PRODUCT_VARIABLES,
    ProductName,
    ProductProvenance,
    file_sha256,
    latest_filename,
    latest_products,
    parse_product_filename,
    product_filename,
    read_product,
    update_latest_link,
    write_product,
)

DAY = dt.date(2024, 3, 2)
PRODUCED = dt.date(2024, 3, 5)
SHA = "0123456789abcdef" * 4


def grid():
    lat = 30.0 + 0.1 * np.arange(40) + 0.05
    lon = -20.0 + 0.1 * np.arange(50) + 0.05
    return lat, lon


def fields():
    """A Gaussian high, its geostrophic current plus a weak drift, a NaN island."""
    lat, lon = grid()
    lam, phi = np.meshgrid(lon, lat)
    ssh = 0.2 * np.exp(-((lam + 17.5) ** 2 * 0.67 + (phi - 32.0) ** 2) / 0.5)
    geo = derive_fields(ssh, ssh * 0, ssh * 0, lat, lon)
    uo, vo = geo["ugos"] + 0.05, geo["vgos"] - 0.02
    land = np.zeros(ssh.shape, bool)
    land[30:, 40:] = True
    return {k: np.where(land, np.nan, a) for k, a in (("ssh", ssh), ("uo", uo), ("vo", vo))}


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
    }
    return ProductProvenance(**(values | changes))


def write(directory, *, day=DAY, produced=PRODUCED, data=None, **kwargs):
    lat, lon = grid()
    return write_product(directory, "demo", day, produced, lat, lon,
                         fields() if data is None else data, provenance(), **kwargs)


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
    assert list(ds.data_vars) == list(PRODUCT_VARIABLES)
    assert ds.sizes == {"time": 1, "latitude": 40, "longitude": 50}
    assert ds["time"].values[0] == np.datetime64("2024-03-02T00:00:00")
    lat, lon = grid()
    np.testing.assert_array_equal(ds["latitude"].values, lat)
    np.testing.assert_array_equal(ds["longitude"].values, lon)
    units = {"ssh": "m", "uo": "m s-1", "vo": "m s-1", "ugos": "m s-1", "vgos": "m s-1",
             "vorticity": "s-1", "divergence": "s-1", "strain": "s-1", "vorticity_f": "1",
             "divergence_f": "1", "strain_f": "1"}
    assert {k: ds[k].attrs["units"] for k in PRODUCT_VARIABLES} == units
    assert ds["ssh"].attrs["standard_name"] == "sea_surface_height_above_sea_level"
    assert ds["ssh"].attrs["long_name"] == "sea level anomaly"
    assert ds["ugos"].attrs["standard_name"] == \
        "surface_geostrophic_eastward_sea_water_velocity_assuming_sea_level_for_geoid"
    assert ds["vorticity"].attrs["standard_name"] == "ocean_relative_vorticity"
    assert "standard_name" not in ds["divergence"].attrs
    for key in PRODUCT_VARIABLES:
        assert ds[key].dtype == np.float32
        assert ds[key].encoding["zlib"] and ds[key].encoding["_FillValue"] > 1e36
    # values: float32 of the input, NaN exactly where the input was NaN
    for key in ("ssh", "uo", "vo"):
        np.testing.assert_array_equal(ds[key].values[0], data[key].astype(np.float32))
    derived = derive_fields(data["ssh"], data["uo"], data["vo"], lat, lon)
    for key, value in derived.items():  # missing derived fields were computed
        np.testing.assert_array_equal(ds[key].values[0], value.astype(np.float32))
    assert np.isnan(ds["ssh"].values[0, 30:, 40:]).all()
    assert np.isnan(ds["vorticity"].values[0]).sum() == 10 * 10
    # on disk, NaN is the fill value
    with netCDF4.Dataset(path) as nc:
        raw = nc["ssh"]
        raw.set_auto_mask(False)
        assert raw[0, 35, 45] == raw._FillValue == np.float32(9.96921e36)
        assert nc["time"].units == "days since 1950-01-01 00:00:00"
        assert nc["time"][:].tolist() == [(DAY - dt.date(1950, 1, 1)).days]
        for name, axis, kind in (("latitude", "Y", "Lat"), ("longitude", "X", "Lon")):
            assert (nc[name].axis, nc[name]._CoordinateAxisType) == (axis, kind)
            assert nc[name].standard_name == name


def test_global_attributes_carry_the_provenance(tmp_path):
    attrs = read_product(write(tmp_path)).attrs
    assert attrs["Conventions"] == "CF-1.8, ACDD-1.3"
    assert attrs["product_day"] == "2024-03-02"
    assert attrs["production_day"] == "2024-03-05"
    assert attrs["date_created"] == "2024-03-05T06:30:12Z"
    assert attrs["time_coverage_start"] == "2024-03-02T00:00:00Z"
    assert attrs["time_coverage_end"] == "2024-03-03T00:00:00Z"
    assert attrs["time_coverage_duration"] == attrs["time_coverage_resolution"] == "P1D"
    lat_range = (attrs["geospatial_lat_min"], attrs["geospatial_lat_max"])
    assert lat_range == pytest.approx((30.05, 33.95))
    assert attrs["geospatial_lon_resolution"] == "0.1 degree"
    assert attrs["model_id"] == "demo-4dvarnet-ssh-sst"
    assert attrs["model_sha256"] == SHA
    assert attrs["software_version"] == varnet.__version__
    assert attrs["input_files"].split("\n") == [
        "ab" * 32 + "  nrt_global_j3_phy_l3_20240302_20240303.nc",
        "cd" * 32 + "  20240302120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc",
    ]
    assert attrs["days_without_observations"] == "2024-02-28, 2024-03-04"
    assert attrs["processing_status"] == "preliminary"
    assert "arXiv:2211.13059" in attrs["references"]
    assert "demo-4dvarnet-ssh-sst" in attrs["source"]


def test_cf_compliance(tmp_path, cf_failures):
    """No failure of the newest CF suite (high priority) nor of CF-1.8 (medium and high)."""
    assert cf_failures(write(tmp_path / "a")) == []
    assert cf_failures(write(tmp_path / "b", ssh_kind="absolute")) == []


def test_compliance_checker_runner_reports_cf_1_8_pass(tmp_path):
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    path = write(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        CheckSuite.load_all_available_checkers()
    report = tmp_path / "cf.txt"
    passed, errors = ComplianceChecker.run_checker(
        str(path), ["cf:1.8"], 0, "normal", output_filename=str(report), output_format="text")
    assert (passed, errors) == (True, False), report.read_text()
    assert "All tests passed!" in report.read_text()


def test_absolute_ssh_uses_the_absolute_names(tmp_path):
    ds = read_product(write(tmp_path, ssh_kind="absolute"))
    assert ds["ssh"].attrs["standard_name"] == "sea_surface_height_above_geoid"
    assert ds["vgos"].attrs["standard_name"] == "surface_geostrophic_northward_sea_water_velocity"
    with pytest.raises(ValueError, match="ssh_kind"):
        write(tmp_path, ssh_kind="relative")


def test_writes_are_deterministic_and_replace_the_old_file(tmp_path):
    a, b = write(tmp_path / "a"), write(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    data = fields()
    data["ssh"] = data["ssh"] + 1.0
    write(tmp_path / "a", data=data)
    assert float(read_product(a)["ssh"][0, 0, 0]) == pytest.approx(1.0 + fields()["ssh"][0, 0],
                                                                   abs=1e-6)
    assert os.listdir(tmp_path / "a") == [a.name]


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
    data["ssh"] = data["ssh"] + 1.0
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
        write(tmp_path, data=data | {"vorticity": np.full(data["ssh"].shape, 1e300)})
    with pytest.raises(ValueError, match=r"unknown product variables \['sst'\]"):
        write(tmp_path, data=data | {"sst": data["ssh"]})
    with pytest.raises(ValueError, match=r"lacks \['vo'\]"):
        write(tmp_path, data={"ssh": data["ssh"], "uo": data["uo"]})
    with pytest.raises(ValueError, match="ssh has shape"):
        write(tmp_path, data=data | {"ssh": data["ssh"].T})
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
    # no production time: 00:00 UTC of the production day
    lat, lon = grid()
    path = write_product(tmp_path, "demo", DAY, PRODUCED, lat, lon, fields(),
                         ProductProvenance("m", SHA))
    attrs = read_product(path).attrs
    assert attrs["date_created"] == "2024-03-05T00:00:00Z"
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
            "varnet.operational.quicklook; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

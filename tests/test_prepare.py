"""Tests of varnet.training.prepare on the tiny synthetic ocean."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from varnet.datamodel.files import find_input_files, read_alongtrack_files
from varnet.datamodel.grid import Grid
from varnet.datamodel.gridding import gridded_ssh_observations, sst_on_grid
from varnet.datamodel.kinds import alongtrack as alongtrack_kind
from varnet.io.readers import read_sst, read_truth
from varnet.kernels.oi import OIConfig
from varnet.training.prepare import PREPARED_VARIABLES, prepare_arrays

START, END = dt.date(2012, 10, 10), dt.date(2012, 10, 13)
NDAYS = 4
OI = OIConfig(time_scale_days=2.0)  # a short time scale keeps the OI fast


@pytest.fixture
def osse(tmp_path, tiny_ocean) -> Path:
    """A private copy of the tiny ocean (tests remove files from it)."""
    return Path(shutil.copytree(tiny_ocean.out_dir, tmp_path / "osse"))


@pytest.fixture(scope="module")
def prepared(tiny_ocean, tmp_path_factory) -> xr.Dataset:
    return prepare_arrays(tiny_ocean.out_dir, 2, START, END, OI,
                          cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def _oi_must_not_run(*args, **kwargs):
    raise AssertionError("the OI was recomputed")


def test_prepared_arrays_have_the_model_grid_shapes_units_and_times(prepared, tiny_ocean):
    ds = prepared
    assert set(ds.data_vars) == {*PREPARED_VARIABLES, "mdt", "ocean"}
    assert ds["ocean"].dims == ("lat", "lon") and (ds["ocean"].values == 1).all()
    for name, (units, _, _) in PREPARED_VARIABLES.items():
        assert ds[name].dims == ("time", "lat", "lon")
        assert ds[name].shape == (NDAYS, 32, 32)
        assert ds[name].dtype == np.float32
        assert ds[name].attrs["units"] == units
    assert ds["mdt"].dims == ("lat", "lon") and ds["mdt"].attrs["units"] == "m"
    assert ds["lat"].attrs["units"] == "degrees_north"
    assert ds["lon"].attrs["units"] == "degrees_east"
    expected_times = np.arange(np.datetime64("2012-10-10T12:00"), np.datetime64("2012-10-14"),
                               np.timedelta64(1, "D")).astype("datetime64[ns]")
    np.testing.assert_array_equal(ds["time"].values, expected_times)
    assert ds.attrs["coarsen"] == 2
    assert ds.attrs["missions"] == "en,g2,j1,tpn"
    assert ds.attrs["sst_level"] == "L4"
    assert ds.attrs["oi_time_scale_days"] == 2.0 and ds.attrs["oi_block_cells"] == 20
    assert ds.attrs["source_directory"] == str(tiny_ocean.out_dir.resolve())
    assert ds.attrs["days_without_alongtrack"] == 0 and ds.attrs["days_without_sst"] == 0
    for name in ("oi", "oi_error_variance", "sst", "sla_true", "u_true", "v_true", "mdt"):
        assert np.isfinite(ds[name].values).all(), name
    assert 0.01 < np.isfinite(ds["obs"].values).mean() < 0.9


def test_prepared_truth_is_the_2x2_block_mean_of_the_truth(prepared, tiny_ocean):
    with read_truth(tiny_ocean.truth) as truth:
        days = truth.sel(time=prepared["time"].values)
        grid = Grid(truth["lat"].values, truth["lon"].values).coarsened(2)
        np.testing.assert_allclose(prepared["lat"].values, grid.lat)
        np.testing.assert_allclose(prepared["lon"].values, grid.lon)
        for name in ("sla", "u", "v"):
            fine = days[name].values.astype(np.float64)
            expected = fine.reshape(NDAYS, 32, 2, 32, 2).mean(axis=(2, 4))
            np.testing.assert_allclose(prepared[f"{name}_true"].values, expected, rtol=1e-6,
                                       atol=1e-7)
        mdt = truth["mdt"].values.astype(np.float64).reshape(32, 2, 32, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(prepared["mdt"].values, mdt, rtol=1e-6, atol=1e-7)


def test_prepared_observations_and_sst_come_from_the_shared_gridding(prepared, tiny_ocean):
    grid = Grid(prepared["lat"].values, prepared["lon"].values)
    files = find_input_files(tiny_ocean.out_dir)
    days = [START + dt.timedelta(days=i) for i in range(NDAYS)]
    track = read_alongtrack_files(files.alongtrack_paths(days))
    np.testing.assert_array_equal(prepared["obs"].values,
                                  gridded_ssh_observations(track, grid, START, NDAYS))
    np.testing.assert_array_equal(prepared["sst"].values[1],
                                  sst_on_grid(read_sst(files.sst[days[1]]), grid))


def test_land_of_a_mask_is_missing_in_every_field_and_changes_no_sea_cell_of_the_gridding(
        prepared, tiny_ocean, tmp_path, land_mask):
    with read_truth(tiny_ocean.truth) as truth:
        lat, lon = truth["lat"].values, truth["lon"].values
    fine_ocean = land_mask.corner_and_island(lat, lon)
    mask = land_mask.write_ocean_mask(tmp_path / "mask.nc", lat, lon, fine_ocean)
    land = prepare_arrays(tiny_ocean.out_dir, 2, START, END, OI, progress=False,
                          cache_dir=tmp_path / "cache", ocean_mask=mask)
    sea = Grid(lat, lon, fine_ocean).coarsened(2).ocean
    assert 0.6 < sea.mean() < 0.95
    np.testing.assert_array_equal(land["ocean"].values, sea.astype(np.int8))
    for name in (*PREPARED_VARIABLES, "mdt"):
        values = land[name].values
        if name == "oi":  # as the model takes it: the first guess is 0 m on land
            assert (values[..., ~sea] == 0).all()
            continue
        assert np.isnan(values[..., ~sea]).all(), f"{name} has values on land"
    for name in ("oi", "oi_error_variance", "sst", "sla_true", "u_true", "v_true", "mdt"):
        assert np.isfinite(land[name].values[..., sea]).all(), f"{name} has gaps on the sea"
    # gridding is cell by cell: the sea cells of obs and SST are those of the open ocean
    for name in ("obs", "sst"):
        np.testing.assert_array_equal(land[name].values[..., sea],
                                      prepared[name].values[..., sea])
    # the truth on a coarse sea cell is the mean of its fine sea cells only
    with read_truth(tiny_ocean.truth) as truth:
        fine = np.where(fine_ocean, truth["sla"].sel(time=land["time"].values).values, np.nan)
    blocks = fine.reshape(NDAYS, 32, 2, 32, 2)
    valid = np.isfinite(blocks).sum(axis=(2, 4))
    with np.errstate(invalid="ignore"):
        expected = np.where(np.isfinite(blocks), blocks, 0.0).sum(axis=(2, 4)) / valid
    np.testing.assert_allclose(land["sla_true"].values[:, sea], expected[:, sea], rtol=1e-6,
                               atol=1e-7)


def test_missing_files_give_nan_days_and_are_counted(osse, tmp_path, caplog):
    files = find_input_files(osse)
    no_sst, no_track = START + dt.timedelta(days=1), START + dt.timedelta(days=2)
    files.sst[no_sst].unlink()
    for path in files.alongtrack[no_track]:
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="varnet.training.prepare"):
        ds = prepare_arrays(osse, 2, START, END, OI, progress=False)
    assert (osse / "prepared").is_dir()
    sst_nan = np.isnan(ds["sst"].values).all(axis=(1, 2))
    obs_nan = np.isnan(ds["obs"].values).all(axis=(1, 2))
    np.testing.assert_array_equal(sst_nan, [False, True, False, False])
    np.testing.assert_array_equal(obs_nan, [False, False, True, False])
    assert np.isfinite(ds["oi"].values[2]).all()  # the OI still maps that day
    assert ds.attrs["days_without_sst"] == 1 and ds.attrs["days_without_alongtrack"] == 1
    assert "1 of 4 days have no L4 SST file" in caplog.text
    assert "1 of 4 days have no along-track file" in caplog.text


def test_the_cache_is_reused_then_invalidated_by_an_argument(osse, monkeypatch):
    first = prepare_arrays(osse, 2, START, END, OI, progress=False)
    assert len(list((osse / "prepared").glob("prepared_*.nc"))) == 1
    monkeypatch.setattr(alongtrack_kind, "oi_first_guess", _oi_must_not_run)
    again = prepare_arrays(osse, 2, START, END, OI, workers=2, progress=False)
    xr.testing.assert_identical(first, again)
    for changed in ({"missions": ["j1", "en"]}, {"sst_level": "L3S"},
                    {"oi": OIConfig(time_scale_days=2.0, block_cells=10)}):
        args = {"missions": None, "sst_level": "L4", "oi": OI} | changed
        with pytest.raises(AssertionError, match="the OI was recomputed"):
            prepare_arrays(osse, 2, START, END, args["oi"], missions=args["missions"],
                           sst_level=args["sst_level"], progress=False)
    with pytest.raises(AssertionError, match="the OI was recomputed"):
        prepare_arrays(osse, 2, START, END + dt.timedelta(days=1), OI, progress=False)


def test_a_changed_input_file_invalidates_the_cache(osse, monkeypatch):
    prepare_arrays(osse, 2, START, END, OI, progress=False)
    monkeypatch.setattr(alongtrack_kind, "oi_first_guess", _oi_must_not_run)
    path = find_input_files(osse).alongtrack[START][0]
    path.touch()  # a newer modification time
    with pytest.raises(AssertionError, match="the OI was recomputed"):
        prepare_arrays(osse, 2, START, END, OI, progress=False)


def test_a_corrupt_cache_file_is_recomputed_with_a_warning(osse, caplog):
    first = prepare_arrays(osse, 2, START, END, OI, progress=False)
    (cached,) = (osse / "prepared").glob("prepared_*.nc")
    cached.write_bytes(cached.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="varnet.training.prepare"):
        again = prepare_arrays(osse, 2, START, END, OI, progress=False)
    assert "cannot be used" in caplog.text and cached.name in caplog.text
    xr.testing.assert_identical(first, again)
    assert [p.name for p in (osse / "prepared").iterdir()] == [cached.name]  # no leftovers


def test_a_period_outside_the_truth_names_the_dates(tiny_ocean, tmp_path):
    with pytest.raises(ValueError, match=r"covers 2012-10-01 to 2012-10-30 .*: 2012-10-31, 2012-"):
        prepare_arrays(tiny_ocean.out_dir, 2, dt.date(2012, 10, 29), dt.date(2012, 11, 2), OI,
                       cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="2012-09-30"):
        prepare_arrays(tiny_ocean.out_dir, 2, dt.date(2012, 9, 30), START, OI,
                       cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coarsen": 0}, "coarsen: expected a positive integer"),
        ({"coarsen": 3}, "lat: 64 cells are not divisible"),
        ({"end": dt.date(2012, 10, 9)}, "is before start"),
        ({"start": dt.datetime(2012, 10, 10)}, r"start: expected a datetime\.date"),
        ({"missions": "j1"}, "missions: expected a non-empty sequence"),
        ({"missions": ["j1", "s3a"]}, "no along-track file of s3a"),
        ({"sst_level": "L2"}, "sst_level: expected one of"),
        ({"workers": 0}, "workers: expected a positive integer"),
    ],
)
def test_bad_arguments_are_clear_errors(tiny_ocean, tmp_path, kwargs, message):
    args = {"coarsen": 2, "start": START, "end": END, "oi": OI} | kwargs
    with pytest.raises(ValueError, match=message):
        prepare_arrays(tiny_ocean.out_dir, cache_dir=tmp_path, progress=False, **args)


def test_a_missing_truth_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"truth\.nc: no truth file"):
        prepare_arrays(tmp_path, 2, START, END, OI, progress=False)


def test_prepare_imports_without_torch():
    code = ("import sys, varnet.training.prepare; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

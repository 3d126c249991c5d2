"""Tests of the file index and the gridding (varnet.datamodel.files, .gridding) against
references written here (plain loops, numpy reshapes)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from varnet.datamodel.files import InputFiles, find_input_files, read_alongtrack_files
from varnet.datamodel.grid import Grid, block_mean
from varnet.datamodel.gridding import gridded_ssh_observations, oi_first_guess, sst_on_grid
from varnet.io.names import alongtrack_filename, ghrsst_filename, parse_alongtrack_filename
from varnet.io.readers import InputFileError, SstField, read_alongtrack, read_sst
from varnet.kernels.oi import OIConfig, optimal_interpolation

START = dt.date(2012, 10, 1)  # first day of configs/osse-tiny.toml
CHEAP_OI = OIConfig(time_scale_days=2.0)  # a short time scale keeps the OI fast


@pytest.fixture(scope="module")
def files(tiny_ocean) -> InputFiles:
    return find_input_files(tiny_ocean.out_dir)


@pytest.fixture(scope="module")
def fine(tiny_ocean) -> SstField:
    return read_sst(tiny_ocean.sst_l4[0])


@pytest.fixture(scope="module")
def grid(fine) -> Grid:
    return Grid(fine.lat, fine.lon).coarsened(2)


def days_from(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


# --------------------------------------------------------------------------------------------
# Grid and block_mean


def test_coarsened_centres_are_the_centres_of_the_blocks():
    lat = 30.025 + 0.05 * np.arange(12)
    lon = -70.0 + 0.05 * np.arange(9)
    g = Grid(lat, lon).coarsened(3)
    assert g.shape == (4, 3)
    # a block of 3 cells of 0.05 degree is centred on its middle cell
    np.testing.assert_allclose(g.lat, 30.075 + 0.15 * np.arange(4), atol=1e-12)
    np.testing.assert_allclose(g.lon, -69.95 + 0.15 * np.arange(3), atol=1e-12)
    np.testing.assert_allclose(g.resolution_deg, (0.15, 0.15), atol=1e-12)
    assert g.lat.dtype == np.float64 and not g.lat.flags.writeable
    assert Grid(lat, lon).coarsened(1) == Grid(lat, lon)
    assert Grid(lat, lon).coarsened(3) != Grid(lat, lon)


@pytest.mark.parametrize(("nlat", "nlon", "axis"), [(13, 9, "lat"), (12, 10, "lon")])
def test_coarsening_needs_divisible_sizes_and_names_the_axis(nlat, nlon, axis):
    with pytest.raises(ValueError, match=rf"^{axis}: .*not divisible"):
        Grid(np.arange(nlat) * 0.1, np.arange(nlon) * 0.1).coarsened(3)


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        ([1.0], [0.0, 1.0], "lat: expected a 1-D array of at least 2"),
        ([[0.0, 1.0]], [0.0, 1.0], "lat: expected a 1-D array"),
        ([0.0, 1.0], [1.0, 0.0], "lon: cell centres must be strictly ascending"),
        ([0.0, 1.0, 3.0], [0.0, 1.0], "lat: cell centres must be regularly spaced"),
        ([0.0, np.nan], [0.0, 1.0], "lat: cell centres must be finite"),
        ([89.0, 91.0], [0.0, 1.0], "lat: cell centres must lie within"),
        ([0.0, 1.0], [0.0, 200.0, 400.0], "lon: the grid's cells span more than 360"),
    ],
)
def test_invalid_grids_are_refused_with_the_axis_named(lat, lon, message):
    with pytest.raises(ValueError, match=message):
        Grid(np.array(lat), np.array(lon))


def test_coarsening_factor_must_be_a_positive_integer():
    for factor in (0, 2.0, True):
        with pytest.raises(ValueError, match="factor: expected a positive integer"):
            Grid(np.arange(4.0), np.arange(4.0)).coarsened(factor)


def test_block_mean_ignores_nan_like_a_loop():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 6, 9))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[0, :3, :3] = np.nan  # a block without any value
    got = block_mean(a, 3)
    assert got.shape == (3, 2, 3)
    for t in range(3):
        for j in range(2):
            for i in range(3):
                block = a[t, 3 * j:3 * j + 3, 3 * i:3 * i + 3]
                values = [v for v in block.ravel() if np.isfinite(v)]
                if values:
                    assert got[t, j, i] == pytest.approx(sum(values) / len(values), rel=1e-12)
                else:
                    assert np.isnan(got[t, j, i])
    with pytest.raises(ValueError, match="lon size 9 is not divisible"):
        block_mean(a, 2)


# --------------------------------------------------------------------------------------------
# finding and reading files


def test_find_input_files_indexes_the_tiny_ocean(tiny_ocean, files):
    days = days_from(START, 30)
    assert sorted(files.alongtrack) == days
    assert sorted(files.sst) == days
    assert files.missions == sorted(["tpn", "j1", "en", "g2"])
    for day in days:
        missions = [parse_alongtrack_filename(p.name).mission for p in files.alongtrack[day]]
        assert missions == sorted(missions) and len(missions) == 4
        assert files.sst[day].parent.name == "l4"  # L4 preferred over L3S
    assert set(files.sst.values()) == set(tiny_ocean.sst_l4)
    l3 = find_input_files(tiny_ocean.out_dir, sst_levels=("L3S", "L4"))
    assert set(l3.sst.values()) == set(tiny_ocean.sst_l3)
    two = files.alongtrack_paths(days[:2], missions=["j1"])
    assert [parse_alongtrack_filename(p.name).day for p in two] == days[:2]


def test_find_input_files_keeps_the_latest_production_and_searches_subfolders(tmp_path,
                                                                              tiny_ocean):
    src = tiny_ocean.alongtrack[0]
    name = parse_alongtrack_filename(src.name)
    nested = tmp_path / "2012" / "10"
    nested.mkdir(parents=True)
    later = name.production + dt.timedelta(days=5)
    for product, production in (("nrt", name.production), ("nrt", later), ("dt", later)):
        target = nested / alongtrack_filename(product, name.mission, name.day, production)
        shutil.copy(src, target)
    shutil.copy(tiny_ocean.sst_l3[0], nested / ghrsst_filename(START, "L3S"))
    shutil.copy(tiny_ocean.sst_l4[0], tmp_path / ghrsst_filename(START, "L4"))
    (tmp_path / "notes.nc").write_text("not an observation file")
    found = find_input_files(tmp_path)
    # latest production, and delayed time over near-real time on the same production day
    assert found.alongtrack == {
        name.day: [nested / alongtrack_filename("dt", name.mission, name.day, later)]}
    assert found.sst == {START: tmp_path / ghrsst_filename(START, "L4")}
    assert find_input_files(tmp_path, ("L3S",)).sst == {
        START: nested / ghrsst_filename(START, "L3S")}


def test_find_input_files_warns_about_identical_candidates(tmp_path, tiny_ocean, caplog):
    src = tiny_ocean.alongtrack[0]
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(src, tmp_path / sub / src.name)
    with caplog.at_level(logging.WARNING, logger="varnet.datamodel.files"):
        found = find_input_files(tmp_path)
    assert list(found.alongtrack.values()) == [[tmp_path / "a" / src.name]]
    assert "same production" in caplog.text


def test_find_input_files_refuses_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_input_files(tmp_path / "absent")
    with pytest.raises(ValueError, match="sst_levels"):
        find_input_files(tmp_path, "L4")
    with pytest.raises(ValueError, match="unknown level"):
        find_input_files(tmp_path, ("L5",))


def test_read_alongtrack_files_concatenates_every_file(files):
    paths = files.alongtrack_paths(days_from(START, 2))
    track = read_alongtrack_files(paths)
    singles = [read_alongtrack(p) for p in paths]
    assert len(track) == sum(len(s) for s in singles)
    assert np.all(np.diff(track.time) >= np.timedelta64(0))
    np.testing.assert_array_equal(np.sort(track.sla), np.sort(np.concatenate(
        [s.sla for s in singles])))
    assert set(track.mission) == {str(s.mission[0]) for s in singles if len(s)}
    assert len(read_alongtrack_files([])) == 0


def test_a_truncated_alongtrack_file_raises_naming_it(tmp_path, files):
    paths = files.alongtrack_paths([START])
    bad = tmp_path / paths[1].name
    data = paths[1].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=bad.name) as info:
        read_alongtrack_files([paths[0], bad, paths[2]])
    assert info.value.path == bad


# --------------------------------------------------------------------------------------------
# gridding


def test_gridded_observations_are_the_cell_means_of_a_plain_loop(files, grid):
    start, ndays = START + dt.timedelta(days=3), 3
    track = read_alongtrack_files(files.alongtrack_paths(days_from(start - dt.timedelta(1), 5)))
    got = gridded_ssh_observations(track, grid, start, ndays)
    assert got.dtype == np.float32 and got.shape == (ndays, *grid.shape)

    dlat, dlon = grid.resolution_deg
    sums: dict[tuple[int, int, int], list[float]] = {}
    t0 = np.datetime64(start, "ns")
    for t, la, lo, v in zip(track.time, track.latitude, track.longitude, track.sla,
                            strict=True):
        d = int((t - t0) // np.timedelta64(1, "D"))
        j = int(np.floor((la - grid.lat[0]) / dlat + 0.5))
        i = int(np.floor((lo - grid.lon[0]) / dlon + 0.5))
        if 0 <= d < ndays and 0 <= j < grid.shape[0] and 0 <= i < grid.shape[1]:
            sums.setdefault((d, j, i), []).append(float(v))
    expected = np.full(got.shape, np.nan)
    for (d, j, i), values in sums.items():
        expected[d, j, i] = np.mean(values)
    assert len(sums) > 100
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)

    one = gridded_ssh_observations(track, grid, start, ndays, missions=["j1"])
    assert np.isfinite(one).sum() < np.isfinite(got).sum()


@pytest.mark.parametrize("level", ["l4", "l3"])
def test_sst_on_the_2x_coarser_grid_is_the_2x2_block_mean(tiny_ocean, grid, level):
    field = read_sst((tiny_ocean.sst_l4 if level == "l4" else tiny_ocean.sst_l3)[5])
    got = sst_on_grid(field, grid)
    assert got.dtype == np.float32 and got.shape == grid.shape
    with warnings.catch_warnings():  # all-NaN blocks of the cloudy L3
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmean(field.sst_k.reshape(32, 2, 32, 2), axis=(1, 3))
    if level == "l3":
        assert np.isnan(expected).any() and not np.isnan(expected).all()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    # float32 rounding of the same mean: at most one unit in the last place (3e-5 K at 290 K)
    np.testing.assert_allclose(got, expected, rtol=0, atol=3.1e-5, equal_nan=True)


def test_sst_on_the_same_grid_is_the_field_itself(fine):
    same = Grid(fine.lat, fine.lon)
    np.testing.assert_array_equal(sst_on_grid(fine, same), fine.sst_k.astype(np.float32))


def test_coarser_sst_is_interpolated_bilinearly_and_nan_outside():
    lat = np.arange(30.0, 36.0, 0.5)
    lon = np.arange(-70.0, -64.0, 0.5)
    sst = 290.0 + 0.3 * lat[:, None] - 0.1 * lon[None, :]  # linear: bilinear is exact
    field = SstField(START, lat, lon, sst, "L4", "test")
    grid = Grid(np.arange(29.95, 33.0, 0.1), np.arange(289.05, 292.0, 0.1))  # 0-360 lons
    got = sst_on_grid(field, grid)
    lon180 = grid.lon - 360.0
    expected = 290.0 + 0.3 * grid.lat[:, None] - 0.1 * lon180[None, :]
    inside = (grid.lat[:, None] >= 30.0) & (lon180[None, :] >= -70.0)
    np.testing.assert_allclose(got[inside], expected[inside], rtol=2e-7)
    assert np.isnan(got[~inside]).all() and (~inside).any()


# --------------------------------------------------------------------------------------------
# optimal interpolation


@pytest.fixture(scope="module")
def track(files):
    return read_alongtrack_files(files.alongtrack_paths(days_from(START, 30)))


def test_oi_is_the_same_bit_for_bit_with_two_workers_and_any_period(track, grid):
    days = days_from(START + dt.timedelta(days=10), 6)
    est1, var1 = oi_first_guess(track, grid, days, CHEAP_OI, workers=1)
    est2, var2 = oi_first_guess(track, grid, days, CHEAP_OI, workers=2)
    assert est1.dtype == np.float32 and est1.shape == (6, *grid.shape)
    np.testing.assert_array_equal(est1, est2)
    np.testing.assert_array_equal(var1, var2)
    # a sub-period (other observation windows) gives the same days exactly
    est3, var3 = oi_first_guess(track, grid, days[2:4], CHEAP_OI)
    np.testing.assert_array_equal(est3, est1[2:4])
    np.testing.assert_array_equal(var3, var1[2:4])
    assert np.all((var1 >= 0) & (var1 <= CHEAP_OI.signal_std_m**2 * (1 + 1e-6)))
    assert np.std(est1) > 0.01


def test_oi_equals_the_kernel_on_all_observations_at_noon(track, grid):
    days = days_from(START + dt.timedelta(days=12), 2)
    est, var = oi_first_guess(track, grid, days, CHEAP_OI)
    epoch = np.datetime64("1950-01-01", "ns")
    t = (track.time - epoch) / np.timedelta64(1, "D")
    noon = np.array([(d - dt.date(1950, 1, 1)).days + 0.5 for d in days])
    ref_est, ref_var = optimal_interpolation(t, track.latitude, track.longitude, track.sla,
                                             grid.lat, grid.lon, noon, CHEAP_OI)
    np.testing.assert_allclose(est, ref_est, atol=1e-6)
    np.testing.assert_allclose(var, ref_var, atol=1e-9)


def test_oi_refuses_bad_days_and_workers(track, grid):
    with pytest.raises(ValueError, match="days: expected at least one"):
        oi_first_guess(track, grid, [], CHEAP_OI)
    with pytest.raises(ValueError, match="strictly increasing"):
        oi_first_guess(track, grid, [START, START], CHEAP_OI)
    with pytest.raises(ValueError, match=r"datetime\.date"):
        oi_first_guess(track, grid, [dt.datetime(2012, 10, 1)], CHEAP_OI)
    with pytest.raises(ValueError, match="workers"):
        oi_first_guess(track, grid, [START], CHEAP_OI, workers=0)


def test_the_data_model_imports_without_torch():
    code = ("import sys, varnet.datamodel.files, varnet.datamodel.assemble; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


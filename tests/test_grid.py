"""Tests of the data model's grid, its ocean mask, mask files and land in the shared gridding.

References are written here: plain loops over points and cells, numpy reshapes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from varnet.datamodel.grid import Grid
from varnet.datamodel.gridding import (
    gridded_ssh_observations,
    oi_first_guess,
    sea_points,
    sst_on_grid,
)
from varnet.io.readers import AlongTrack, InputFileError, SstField
from varnet.kernels.binning import cell_indices
from varnet.kernels.oi import OIConfig, optimal_interpolation

LAT = np.arange(30.05, 32.0, 0.1)  # 20 rows
LON = np.arange(-60.95, -58.0, 0.1)  # 30 columns


def _grid(ocean=None) -> Grid:
    return Grid(LAT, LON, ocean, name="box")


def _track(n: int = 4000, seed: int = 0) -> AlongTrack:
    rng = np.random.default_rng(seed)
    day0 = np.datetime64("2020-01-01T00:00", "ns")
    time = day0 + (rng.uniform(0, 3, n) * 86_400e9).astype("timedelta64[ns]")
    order = np.argsort(time)
    lat = rng.uniform(29.5, 32.5, n)[order]
    lon = rng.uniform(-61.5, -57.5, n)[order]
    sla = (0.1 * np.sin(np.radians(40 * lat)) * np.cos(np.radians(30 * lon))
           + 0.01 * rng.standard_normal(n))
    return AlongTrack(np.full(n, "j3"), time[order], lon, lat, sla, None, "synthetic")


# --- the Grid ------------------------------------------------------------------------------


def test_an_open_ocean_grid_is_all_sea_and_owns_read_only_arrays():
    lat = LAT.copy()
    grid = Grid(lat, LON)
    lat[0] = 0.0
    assert grid.lat[0] == pytest.approx(30.05)
    assert grid.open_ocean and grid.sea_fraction == 1.0 and grid.shape == (20, 30)
    assert grid.ocean.dtype == bool and not grid.land.any()
    for array in (grid.lat, grid.lon, grid.ocean):
        with pytest.raises(ValueError):
            array[0] = 1
    values = np.arange(600.0).reshape(20, 30)
    np.testing.assert_array_equal(grid.mask_land(values), values)


def test_a_grid_with_land_masks_fields_and_compares_by_mask(land_mask):
    ocean = land_mask.corner_and_island(LAT, LON)
    grid = _grid(ocean)
    assert not grid.open_ocean and 0.7 < grid.sea_fraction < 0.95
    field = np.ones((2, 20, 30), dtype=np.float32)
    masked = grid.mask_land(field)
    assert masked.dtype == np.float32 and np.isnan(masked[:, ~ocean]).all()
    assert (masked[:, ocean] == 1).all() and (field == 1).all()  # a copy
    assert grid != _grid() and grid == _grid(ocean.copy())
    assert "% land" in repr(grid)


@pytest.mark.parametrize(("ocean", "match"), [
    (np.ones((20, 29), dtype=bool), "shape"),
    (np.ones((20, 30), dtype=np.int8), "boolean"),
    (np.zeros((20, 30), dtype=bool), "no sea cell"),
])
def test_a_bad_ocean_mask_is_refused_by_name(ocean, match):
    with pytest.raises(ValueError, match=f"ocean: .*{match}"):
        _grid(ocean)


def test_coarsened_cells_are_sea_where_at_least_half_of_their_fine_cells_are():
    ocean = np.ones((20, 30), dtype=bool)
    ocean[0, 0] = False  # 1 of 4: sea
    ocean[2:4, 2] = False  # 2 of 4: sea
    ocean[4:6, 4:6] = False  # 4 of 4: land
    ocean[6, 6:8] = False
    ocean[7, 6] = False  # 3 of 4: land
    coarse = _grid(ocean).coarsened(2)
    expected = np.ones((10, 15), dtype=bool)
    expected[2, 2] = expected[3, 3] = False
    np.testing.assert_array_equal(coarse.ocean, expected)
    np.testing.assert_allclose(coarse.lat, LAT.reshape(10, 2).mean(axis=1))
    assert coarse.name == "box"


def test_a_lattice_round_trips_and_a_region_on_it_fits():
    grid = Grid.regular(35.0, -60.0, 0.25, (8, 12), name="m")
    again = Grid.from_lattice(grid.lattice())
    np.testing.assert_array_equal(again.lat, grid.lat)
    np.testing.assert_array_equal(again.lon, grid.lon)
    region = Grid.regular(35.0 + 3 * 0.25, -60.0 - 5 * 0.25, 0.25, (4, 4))
    assert region.on_lattice(35.0, -60.0, 0.25) is None
    assert region.on_lattice(35.1, -60.0, 0.25).startswith("lat0:")
    assert region.on_lattice(35.0, -60.0, 0.5).startswith("resolution_deg:")


# --- mask files ----------------------------------------------------------------------------


def test_a_mask_file_is_read_onto_the_grid_cells_it_contains(tmp_path, land_mask):
    from varnet.io.ocean_mask import read_ocean_mask

    wide_lat = np.round(np.arange(29.05, 33.0, 0.1), 10)
    wide_lon = np.round(np.arange(-62.95, -57.0, 0.1) + 360.0, 10)  # 0..360 in the file
    wide = land_mask.corner_and_island(wide_lat, wide_lon)
    path = land_mask.write_ocean_mask(tmp_path / "mask.nc", wide_lat, wide_lon, wide)
    mask = read_ocean_mask(path, LAT, LON)
    rows = [int(np.argmin(np.abs(wide_lat - y))) for y in LAT]
    cols = [int(np.argmin(np.abs(wide_lon - 360.0 - x))) for x in LON]
    np.testing.assert_array_equal(mask, wide[np.ix_(rows, cols)])


def test_a_mask_on_other_cells_or_no_mask_is_refused_naming_the_file(tmp_path, land_mask):
    from varnet.io.ocean_mask import read_ocean_mask

    path = land_mask.write_ocean_mask(tmp_path / "offset.nc", LAT + 0.05, LON,
                                      np.ones((20, 30), bool))
    with pytest.raises(InputFileError, match=r"offset\.nc: .*no cell centred on lat"):
        read_ocean_mask(path, LAT, LON)
    import xarray as xr
    xr.Dataset({"depth": (("lat", "lon"), np.zeros((20, 30)))},
               coords={"lat": LAT, "lon": LON}).to_netcdf(tmp_path / "none.nc")
    with pytest.raises(InputFileError, match=r"none\.nc: no ocean mask variable"):
        read_ocean_mask(tmp_path / "none.nc", LAT, LON)


# --- land in the gridding ------------------------------------------------------------------


def test_cell_indices_follow_the_binning_cell_rule():
    track = _track()
    rows, cols = cell_indices(track.latitude, track.longitude, LAT, LON)
    half = 0.05
    for k in range(0, len(track), 37):
        y, x = track.latitude[k], track.longitude[k]
        inside = LAT[0] - half <= y < LAT[-1] + half and LON[0] - half <= x < LON[-1] + half
        if not inside:
            assert rows[k] == cols[k] == -1
            continue
        assert abs(LAT[rows[k]] - y) <= half + 1e-9 and abs(LON[cols[k]] - x) <= half + 1e-9


def test_points_on_land_are_dropped_and_every_gridded_field_is_nan_on_land(land_mask):
    ocean = land_mask.corner_and_island(LAT, LON)
    grid, open_grid = _grid(ocean), _grid()
    track = _track()
    kept = sea_points(track, grid)
    assert sea_points(track, open_grid) is track
    rows, cols = cell_indices(track.latitude, track.longitude, LAT, LON)
    on_land = np.array([r >= 0 and not ocean[r, c] for r, c in zip(rows, cols, strict=True)])
    assert 0 < on_land.sum() < len(track) and len(kept) == len(track) - on_land.sum()
    np.testing.assert_array_equal(kept.sla, track.sla[~on_land])

    start = dt.date(2020, 1, 1)
    obs = gridded_ssh_observations(track, grid, start, 3)
    reference = gridded_ssh_observations(track, open_grid, start, 3)
    assert np.isnan(obs[:, ~ocean]).all()
    np.testing.assert_array_equal(obs[:, ocean], reference[:, ocean])

    field = SstField(start, LAT, LON, np.full((20, 30), 290.0), "L4", "synthetic")
    sst = sst_on_grid(field, grid)
    assert np.isnan(sst[~ocean]).all() and (sst[ocean] == 290.0).all()


def test_the_oi_makes_no_estimate_on_land_and_uses_no_land_point(land_mask):
    ocean = land_mask.corner_and_island(LAT, LON)
    track = _track()
    config = OIConfig(space_scale_km=60.0, time_scale_days=2.0, block_cells=7)
    days = [dt.date(2020, 1, 2)]
    land_oi, land_var = oi_first_guess(track, _grid(ocean), days, config)
    assert np.isnan(land_oi[:, ~ocean]).all() and np.isnan(land_var[:, ~ocean]).all()
    assert np.isfinite(land_oi[:, ocean]).all()
    # the sea cells are the OI of the sea points on an open grid, bit for bit
    open_oi, _ = oi_first_guess(sea_points(track, _grid(ocean)), _grid(), days, config)
    np.testing.assert_array_equal(land_oi[:, ocean], open_oi[:, ocean])
    # as the model takes it (the one assembler): the first guess 0 on land, the rest NaN
    from varnet.datamodel.assemble import assemble_inputs
    from varnet.datamodel.kinds import GriddingOptions
    from varnet.datamodel.signature import STANDARD_INPUTS

    model = assemble_inputs([STANDARD_INPUTS["oi"], STANDARD_INPUTS["obs"]],
                            {"alongtrack": [track]}, _grid(ocean), days,
                            GriddingOptions(oi=config), also=[("alongtrack", "oi_error_variance")])
    assert (model["oi"][:, ~ocean] == 0).all() and np.isnan(model["obs"][:, ~ocean]).all()
    np.testing.assert_array_equal(model["oi"][:, ocean], land_oi[:, ocean])
    assert np.isnan(model["oi_error_variance"][:, ~ocean]).all()


def test_the_oi_kernel_skips_blocks_of_land_only():
    ocean = np.ones((20, 30), dtype=bool)
    ocean[:10, :10] = False  # exactly one block of 10 x 10 cells
    rng = np.random.default_rng(3)
    t, la, lo = rng.uniform(0, 2, 300), rng.uniform(30, 32, 300), rng.uniform(-61, -58, 300)
    y = rng.standard_normal(300) * 0.1
    config = OIConfig(block_cells=10)
    est, var = optimal_interpolation(t, la, lo, y, LAT, LON, [1.0], config, ocean=ocean)
    ref, ref_var = optimal_interpolation(t, la, lo, y, LAT, LON, [1.0], config)
    assert np.isnan(est[0, :10, :10]).all() and np.isnan(var[0, :10, :10]).all()
    np.testing.assert_array_equal(est[:, ocean], ref[:, ocean])
    np.testing.assert_array_equal(var[:, ocean], ref_var[:, ocean])
    with pytest.raises(ValueError, match="ocean: expected a boolean mask"):
        optimal_interpolation(t, la, lo, y, LAT, LON, [1.0], config, ocean=ocean[:, 1:])

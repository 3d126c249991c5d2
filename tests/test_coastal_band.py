"""The coastal band: distances to land on the data model's grid, and the sea each score table
covers (varnet.datamodel.scored_sea).

References are written here: a brute-force haversine distance from every sea cell to every
land cell.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from varnet.datamodel.grid import Grid
from varnet.datamodel.scored_sea import DEFAULT_COASTAL_BAND_KM, ScoredSea, scored_seas
from varnet.errors import InputError
from varnet.kernels.finite_differences import EARTH_RADIUS_M

R_KM = EARTH_RADIUS_M / 1000.0


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance, km, between points given in degrees (broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * R_KM * np.arcsin(np.sqrt(a))


def brute_force_distance_km(lat, lon, ocean):
    """Distance from every cell centre to the nearest land centre, one pair at a time."""
    distance = np.zeros(ocean.shape)
    land = [(lat[j], lon[i]) for j, i in zip(*np.nonzero(~ocean), strict=True)]
    for j, i in zip(*np.nonzero(ocean), strict=True):
        distance[j, i] = min(haversine_km(lat[j], lon[i], la, lo) for la, lo in land)
    return distance


def _grid(lat0, land_mask, resolution=0.05, shape=(28, 35)):
    lat = lat0 + resolution * np.arange(shape[0])
    lon = -60.0 + resolution * np.arange(shape[1])
    return Grid(lat, lon, land_mask.corner_and_island(lat, lon), name="coast")


@pytest.mark.parametrize("lat0", [38.0, 62.0])
def test_the_band_is_the_sea_within_its_width_of_land_by_great_circle(lat0, land_mask):
    grid = _grid(lat0, land_mask)
    expected = brute_force_distance_km(grid.lat, grid.lon, grid.ocean)
    np.testing.assert_allclose(grid.distance_to_land_km(), expected, rtol=1e-9, atol=1e-9)
    for band_km in (5.0, 12.0, DEFAULT_COASTAL_BAND_KM):
        assert np.abs(expected - band_km).min() > 1e-6  # no cell on the edge of the band
        np.testing.assert_array_equal(grid.coastal_band(band_km),
                                      grid.ocean & (expected <= band_km))
    # the band is physical: at 62 N a cell is half as wide as tall, so a band spans more
    # columns east of the corner than rows south of it
    band = grid.coastal_band(12.0)
    corner_row, corner_col = grid.shape[0] - grid.shape[0] // 4, grid.shape[1] // 4
    rows = int(band[:corner_row, 0].sum())
    cols = int(band[-1, corner_col:].sum())
    width_km, height_km = (R_KM * math.radians(0.05) * math.cos(math.radians(grid.lat[-1])),
                           R_KM * math.radians(0.05))
    assert (rows, cols) == (int(12.0 // height_km), int(12.0 // width_km))


def test_a_sea_cell_next_to_land_is_one_cell_away_centre_to_centre():
    ocean = np.ones((3, 3), dtype=bool)
    ocean[1, 0] = False
    grid = Grid.regular(37.95, -60.0, 0.05, (3, 3), ocean=ocean)
    distance = grid.distance_to_land_km()
    east = R_KM * math.radians(0.05) * math.cos(math.radians(38.0))
    assert distance[1, 1] == pytest.approx(east, rel=1e-6)  # about 4.4 km
    assert distance[1, 1] == pytest.approx(4.38, abs=0.01)
    assert distance[0, 0] == pytest.approx(R_KM * math.radians(0.05), rel=1e-9)
    assert distance[1, 0] == 0.0
    assert grid.coastal_band(4.5)[1, 1] and not grid.coastal_band(4.3)[1, 1]


def test_distances_do_not_depend_on_the_longitude_convention(land_mask):
    west = _grid(38.0, land_mask)
    east = Grid(west.lat, west.lon + 360.0, west.ocean)
    np.testing.assert_allclose(east.distance_to_land_km(), west.distance_to_land_km(),
                               rtol=1e-9, atol=1e-9)


def test_an_all_sea_grid_has_no_band():
    grid = Grid.regular(38.0, -60.0, 0.05, (10, 12))
    assert not grid.coastal_band(DEFAULT_COASTAL_BAND_KM).any()
    assert np.isinf(grid.distance_to_land_km()).all()
    (only,) = scored_seas(grid, 2, DEFAULT_COASTAL_BAND_KM)
    assert only.sea is None and only.ocean is None and only.suffix == "" and only.coverage == ""


@pytest.mark.parametrize("band_km", [0, 0.0, -20.0, math.nan, math.inf, True, "20"])
def test_a_band_that_is_not_a_positive_distance_is_refused_naming_it(band_km, land_mask):
    with pytest.raises(ValueError, match=rf"band_km: .*got {band_km!r}"):
        _grid(38.0, land_mask).coastal_band(band_km)


def test_with_land_the_scored_seas_are_all_the_sea_then_the_sea_beyond_the_band(land_mask):
    grid = _grid(38.0, land_mask, shape=(40, 40))
    crop = 3
    inner = (slice(crop, 40 - crop), slice(crop, 40 - crop))
    far = brute_force_distance_km(grid.lat, grid.lon, grid.ocean) > 10.0
    sea, offshore = scored_seas(grid, crop, 10.0)
    assert isinstance(sea, ScoredSea) and sea.suffix == ""
    np.testing.assert_array_equal(sea.ocean, grid.ocean[inner])
    n_sea = int(grid.ocean[inner].sum())
    assert f"all {n_sea} sea cells" in sea.coverage
    assert f"{34 * 34 - n_sea} of its {34 * 34} cells are land" in sea.coverage
    np.testing.assert_array_equal(offshore.ocean, (grid.ocean & far)[inner])
    # both derive the fields from all the sea: the band is scored out, not made land
    np.testing.assert_array_equal(sea.sea, grid.ocean[inner])
    np.testing.assert_array_equal(offshore.sea, grid.ocean[inner])
    assert offshore.suffix == "_offshore_10km"
    n_off = int(offshore.ocean.sum())
    assert 0 < n_off < n_sea
    assert (f"the {n_off} sea cells of the cropped domain farther than 10 km from land"
            in offshore.coverage)
    assert f"the {n_sea - n_off} sea cells of the 10 km coastal band left out" in \
        offshore.coverage
    assert len(scored_seas(grid, crop, 0)) == 1  # 0: no table beyond a band


def test_land_outside_the_scored_domain_still_makes_a_coast():
    ocean = np.ones((20, 20), dtype=bool)
    ocean[:, :2] = False  # land in the cropped columns only
    grid = Grid.regular(38.0, -60.0, 0.05, (20, 20), ocean=ocean)
    sea, offshore = scored_seas(grid, 2, 10.0)
    assert sea.ocean.all()
    assert not offshore.ocean[:, 0].any() and offshore.ocean[:, -1].all()


def test_a_band_leaving_too_little_sea_for_the_spectral_scores_is_refused(land_mask):
    grid = _grid(38.0, land_mask, shape=(40, 40))
    with pytest.raises(InputError, match=r"coastal band 50 km: only 37.7 % of the 1156 cells .*"
                                         r"--coastal-band-km"):
        scored_seas(grid, 3, 50.0)


def test_both_commands_default_to_the_data_models_band():
    """The command lines spell the default out (they import no data model at start-up)."""
    from varnet.operational.cli import score_command
    from varnet.training.cli import evaluate

    for command in (evaluate, score_command):
        (option,) = (p for p in command.params if p.name == "coastal_band_km")
        assert option.default == DEFAULT_COASTAL_BAND_KM, command.name

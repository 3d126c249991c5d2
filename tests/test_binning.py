"""Tests of varnet.kernels.binning against a plain Python loop over the points.

The reference assigns each point to the nearest cell centre by comparing distances, a tie
going to the larger index, and drops points beyond half a step outside the outer centres.
Grids on multiples of 1/4 degree make every boundary exactly representable, so points placed
exactly on cell boundaries test the tie rule without rounding ambiguity.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from varnet.io.readers import AlongTrack
from varnet.kernels.binning import grid_alongtrack, grid_daily

DAY_NS = 86_400 * 10**9


def nearest_cell(x: float, centres: np.ndarray) -> int:
    """Index of the nearest centre (ties: larger index), or -1 beyond half a step outside."""
    half_first = 0.5 * (centres[1] - centres[0])
    half_last = 0.5 * (centres[-1] - centres[-2])
    if x < centres[0] - half_first or x >= centres[-1] + half_last:
        return -1
    best, best_d = -1, np.inf
    for i, c in enumerate(centres):
        d = abs(x - c)
        if d <= best_d:  # '<=': on a tie the later (larger) index wins
            best, best_d = i, d
    return best


def reference(
    time, lat, lon, values, grid_lat, grid_lon, start, ndays, mission=None, missions=None
):
    """Plain loop over points: daily mean (NaN where empty) and count."""
    t0 = np.datetime64(start, "D").astype("datetime64[ns]").astype(np.int64)
    west = grid_lon[0] - 0.5 * (grid_lon[1] - grid_lon[0])
    sums = np.zeros((ndays, grid_lat.size, grid_lon.size))
    counts = np.zeros((ndays, grid_lat.size, grid_lon.size), dtype=np.int64)
    for k in range(len(values)):
        if missions is not None and str(mission[k]) not in missions:
            continue
        if np.isnat(time[k]):
            continue
        t = time[k].astype("datetime64[ns]").astype(np.int64)
        if t < t0 or t >= t0 + ndays * DAY_NS:
            continue
        if not (np.isfinite(values[k]) and np.isfinite(lat[k]) and np.isfinite(lon[k])):
            continue
        x = float(lon[k])
        while x < west:
            x += 360.0
        while x >= west + 360.0:
            x -= 360.0
        j = nearest_cell(float(lat[k]), grid_lat)
        i = nearest_cell(x, grid_lon)
        if i < 0 or j < 0:
            continue
        d = (t - t0) // DAY_NS
        sums[d, j, i] += values[k]
        counts[d, j, i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, counts


def assert_same(result, expected):
    mean, count = result
    ref_mean, ref_count = expected
    assert mean.dtype == np.float64 and count.dtype == np.int32
    assert mean.shape == ref_mean.shape
    np.testing.assert_array_equal(count, ref_count)
    np.testing.assert_array_equal(np.isnan(mean), ref_count == 0)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, atol=1e-15, equal_nan=True)


START = dt.date(2012, 10, 1)
GRID_LAT = np.arange(33.0, 35.0, 0.25) + 0.125  # edges on multiples of 0.25
GRID_LON = np.arange(-65.0, -63.0, 0.25) + 0.125


def random_points(n: int, rng: np.random.Generator):
    """Points over and around the grid and the 3-day window, with missions."""
    time = np.datetime64(START, "ns") + (rng.uniform(-0.5, 3.5, n) * DAY_NS).astype(
        "timedelta64[ns]"
    )
    lat = rng.uniform(32.5, 35.5, n)
    lon = rng.uniform(-65.5, -62.5, n)
    values = rng.normal(0.0, 0.1, n)
    mission = rng.choice(["j1", "tpn", "en", "g2"], n)
    return time, lat, lon, values, mission


def edge_cases():
    """Points on cell boundaries, outer edges, day boundaries, and invalid points."""
    s = np.datetime64(START, "ns")
    one_ns = np.timedelta64(1, "ns")
    day = np.timedelta64(DAY_NS, "ns")
    rows = [
        # time, lat, lon, value
        (s, 33.25, -64.75, 1.0),  # on an inner corner: goes north-east
        (s, 33.25, -64.9, 2.0),  # on a latitude boundary
        (s, 33.1, -64.5, 3.0),  # on a longitude boundary
        (s, 33.0, -65.0, 4.0),  # south-west outer corner: inside
        (s, 35.0, -64.0, 5.0),  # northern outer edge: outside
        (s, 34.0, -63.0, 6.0),  # eastern outer edge: outside
        (s, 34.0, -63.0 - 1e-12, 7.0),  # just inside the eastern edge
        (s - one_ns, 34.0, -64.0, 8.0),  # just before the window
        (s + 3 * day, 34.0, -64.0, 9.0),  # first instant after a 3-day window
        (s + day - one_ns, 34.0, -64.0, 10.0),  # last instant of day 0
        (s + day, 34.0, -64.0, 11.0),  # first instant of day 1
        (s, 34.0, -64.0, np.nan),  # NaN value
        (s, np.nan, -64.0, 12.0),  # NaN latitude
        (s, 34.0, np.inf, 13.0),  # infinite longitude
        (np.datetime64("NaT", "ns"), 34.0, -64.0, 14.0),  # NaT
        (s, 34.0, -64.0 + 360.0, 15.0),  # longitude given in [0, 360)
        (s, 34.0, -64.0 - 720.0, 16.0),  # two turns west
    ]
    time = np.array([r[0] for r in rows], dtype="datetime64[ns]")
    lat = np.array([r[1] for r in rows])
    lon = np.array([r[2] for r in rows])
    values = np.array([r[3] for r in rows])
    mission = np.array(["j1", "tpn"] * (len(rows) // 2) + ["j1"] * (len(rows) % 2))
    return time, lat, lon, values, mission


def test_random_and_edge_points_match_reference_loop():
    rng = np.random.default_rng(1)
    parts = [random_points(3000, rng), edge_cases()]
    time, lat, lon, values, mission = (np.concatenate(c) for c in zip(*parts, strict=True))
    values[rng.choice(values.size, 50, replace=False)] = np.nan
    args = (time, lat, lon, values, GRID_LAT, GRID_LON, START, 3)
    assert_same(grid_daily(*args), reference(*args))
    assert_same(
        grid_daily(*args, mission=mission, missions=["j1", "en"]),
        reference(*args, mission=mission, missions=["j1", "en"]),
    )


def test_boundary_rule_on_named_points():
    time, lat, lon, values, _ = edge_cases()
    mean, count = grid_daily(time, lat, lon, values, GRID_LAT, GRID_LON, START, 3)
    assert mean[0, 1, 1] == 1.0  # (33.25, -64.75) -> cell (1, 1), not (0, 0)
    assert mean[0, 1, 0] == 2.0
    assert mean[0, 0, 2] == 3.0
    assert mean[0, 0, 0] == 4.0
    # (34, -64) sits on a corner: cell (4, 4); it holds day-0 points 10 (last ns of the day),
    # 15 and 16 (longitudes shifted by whole turns); day 1 holds point 11 only.
    assert count[0, 4, 4] == 3 and mean[0, 4, 4] == pytest.approx((10 + 15 + 16) / 3)
    assert count[1, 4, 4] == 1 and mean[1, 4, 4] == 11.0
    assert mean[0, 4, 7] == 7.0  # just inside the eastern edge
    assert count[0].sum() == 8  # points 1-4, 7, 10, 15 and 16
    assert count[1].sum() == 1 and count[2].sum() == 0


def test_realistic_grid_random_points():
    rng = np.random.default_rng(2)
    time, lat, lon, values, _ = random_points(4000, rng)
    grid_lat = np.linspace(33.025, 34.975, 40)  # 1/20 degree
    grid_lon = np.linspace(-64.975, -63.025, 40)
    args = (time, lat, lon, values, grid_lat, grid_lon, START, 2)
    assert_same(grid_daily(*args), reference(*args))


def test_grid_in_0_360_accepts_points_in_minus_180_180():
    rng = np.random.default_rng(3)
    time, lat, lon, values, _ = random_points(2000, rng)
    grid_lon = GRID_LON + 360.0
    args = (time, lat, lon, values, GRID_LAT, grid_lon, START, 3)
    expected = reference(*args)
    assert expected[1].sum() > 0
    assert_same(grid_daily(*args), expected)
    # the same grid in [-180, 180) gives the same answer
    assert_same(grid_daily(time, lat, lon, values, GRID_LAT, GRID_LON, START, 3), expected)


def test_time_units_and_empty_input():
    rng = np.random.default_rng(4)
    time, lat, lon, values, _ = random_points(500, rng)
    in_seconds = time.astype("datetime64[s]")
    args = (lat, lon, values, GRID_LAT, GRID_LON, START, 3)
    assert_same(grid_daily(in_seconds, *args), reference(in_seconds, *args))
    empty = np.empty(0)
    mean, count = grid_daily(
        np.empty(0, "datetime64[ns]"), empty, empty, empty, GRID_LAT, GRID_LON, START, 2
    )
    assert mean.shape == (2, 8, 8) and np.isnan(mean).all() and not count.any()


def test_grid_alongtrack_matches_grid_daily():
    rng = np.random.default_rng(5)
    time, lat, lon, values, mission = random_points(1000, rng)
    track = AlongTrack(
        mission=mission, time=time, longitude=lon, latitude=lat, sla=values, mdt=None, source="test"
    )
    expected = grid_daily(
        time, lat, lon, values, GRID_LAT, GRID_LON, START, 3, mission=mission, missions=["g2"]
    )
    assert_same(grid_alongtrack(track, GRID_LAT, GRID_LON, START, 3, missions=["g2"]), expected)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"time": np.zeros(3)}, "time"),
        ({"lat": np.zeros(2)}, "lat"),
        ({"lon": np.zeros((3, 1))}, "lon"),
        ({"values": np.zeros(4)}, "values"),
        ({"grid_lat": np.array([1.0, 0.0])}, "grid_lat"),
        ({"grid_lat": np.array([0.0])}, "grid_lat"),
        ({"grid_lon": np.array([0.0, 1.0, 3.0])}, "grid_lon"),
        ({"grid_lon": np.array([0.0, np.nan])}, "grid_lon"),
        ({"grid_lon": np.linspace(0.0, 400.0, 11)}, "grid_lon"),
        ({"start": dt.datetime(2012, 10, 1, 6)}, "start"),
        ({"ndays": 0}, "ndays"),
        ({"ndays": 1.5}, "ndays"),
        ({"missions": ["j1"]}, "mission"),
        ({"missions": "j1", "mission": np.array(["j1"] * 3)}, "missions"),
        ({"mission": np.array(["j1"] * 2)}, "mission"),
    ],
)
def test_invalid_arguments_name_the_argument(change, name):
    kwargs = {
        "time": np.array(
            ["2012-10-01T00", "2012-10-01T01", "2012-10-01T02"], dtype="datetime64[ns]"
        ),
        "lat": np.zeros(3),
        "lon": np.zeros(3),
        "values": np.zeros(3),
        "grid_lat": np.array([0.0, 1.0]),
        "grid_lon": np.array([0.0, 1.0]),
        "start": START,
        "ndays": 1,
    }
    kwargs.update(change)
    with pytest.raises(ValueError, match=rf"^{name}:"):
        grid_daily(**kwargs)

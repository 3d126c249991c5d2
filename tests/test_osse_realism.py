"""The synthetic ocean against a real DUACS L4 day (varnet.osse.realism, varnet-osse realism).

Known answers: coarsening against block means computed by hand (with the land rule), the
geostrophic speed of an analytic jet, the standard deviation and rms of fields built to have
them, the slope of a power-law spectrum, the share of variance of orthogonal currents; the
real DUACS day of ../shared/realdata/ (skipped where absent) against its published figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from scipy.special import erf

from varnet.datamodel.grid import Grid
from varnet.errors import EXIT_CONFIG, InputError
from varnet.io.readers import InputFileError
from varnet.kernels.finite_differences import (
    EARTH_RADIUS_M,
    GRAVITY_M_S2,
    coriolis_parameter,
    geostrophic_velocity,
)
from varnet.osse.cli import main as osse_main
from varnet.osse.diagnostics import largest_sea_rectangle, spectral_slope
from varnet.osse.realism import (
    TARGETS,
    Box,
    Day,
    day_statistics,
    geostrophic_share,
    geostrophy_like_duacs,
    ke_spectrum,
    nest,
    read_duacs,
    summarise,
    verdicts,
)

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
DUACS_DAY = REALDATA / "nrt_global_allsat_phy_l4_20190223_20190226.nc"
GULF_STREAM = Box(33.0, 43.0, -65.0, -55.0)


def _fine_grid(ny: int, nx: int, ocean: np.ndarray | None = None) -> Grid:
    """0.05 degree cells with edges on multiples of 0.05 from 32 N, 66 W (the default ocean's
    lattice)."""
    return Grid.regular(32.025, -65.975, 0.05, (ny, nx), ocean=ocean, name="fine")


def _duacs_grid(lat0: float, lon0: float, shape: tuple[int, int]) -> Grid:
    return Grid.regular(lat0, lon0, 0.25, shape, name="duacs")


def _day(adt: np.ndarray, grid: Grid, sla: np.ndarray | None = None) -> Day:
    return Day("test", "2012-10-01", grid, adt, sla, None, None)


# --- coarsening ------------------------------------------------------------------------


def test_coarsening_is_the_block_mean_of_the_sea_cells_and_land_below_half_sea():
    # 12 x 10 fine cells: two 0.25 degree rows (the top 2 fine rows overhang, left out), two
    # columns; value 10 j + i in row j, column i; 1e6 on land, which must never count.
    values = 10.0 * np.arange(12)[:, None] + np.arange(10)[None, :]
    ocean = np.ones((12, 10), dtype=bool)
    ocean[0:2, 0:5] = False  # coarse cell (0, 0): 13 land of 25 -> land
    ocean[2, 0:3] = False
    ocean[5:7, 5:10] = False  # coarse cell (1, 1): 12 land of 25 -> sea, mean of 13
    ocean[7, 5:7] = False
    values[~ocean] = 1e6
    # the DUACS lattice in 0-360 longitudes, with cells beyond the fine grid
    nesting = nest(_fine_grid(12, 10, ocean), _duacs_grid(31.875, 293.875, (6, 6)))

    assert nesting.factor == 5
    np.testing.assert_allclose(nesting.grid.lat, [32.125, 32.375])
    np.testing.assert_allclose(nesting.grid.lon, [-65.875, -65.625])
    np.testing.assert_array_equal(nesting.grid.ocean, [[False, True], [True, True]])
    sea_mean_11 = (77 + 78 + 79 + sum(10 * j + i for j in (8, 9) for i in range(5, 10))) / 13
    expected = [[np.nan, 10 * 2 + 7], [10 * 7 + 2, sea_mean_11]]
    np.testing.assert_allclose(nesting.apply(values), expected)
    np.testing.assert_allclose(nesting.apply(values[None])[0], expected)  # leading axes


@pytest.mark.parametrize(("fine", "why"), [
    # the tiny ocean's 0.1 degree cells: 2.5 per DUACS cell
    (Grid.regular(34.85, -63.15, 0.1, (64, 64), name="tiny"), "whole number of fine cells"),
    # 0.05 degree cells whose edges sit half a cell off the DUACS edges
    (Grid.regular(32.0, -66.0, 0.05, (40, 40), name="shifted"), "off the coarse edges"),
])
def test_cells_that_do_not_nest_are_refused_naming_both_grids(fine, why):
    with pytest.raises(InputError, match=why) as caught:
        nest(fine, _duacs_grid(32.125, -65.875, (4, 4)))
    assert f"Grid('{fine.name}'" in str(caught.value)
    assert "Grid('duacs'" in str(caught.value)


# --- statistics on fields with known answers --------------------------------------------


def test_adt_std_and_sla_rms_are_over_the_box_sea_cells_only():
    grid = _duacs_grid(30.125, -67.875, (56, 56))
    rows, cols = GULF_STREAM.cells(grid)
    adt = np.where((np.arange(56)[:, None] + np.arange(56)[None, :]) % 2 == 0, 0.9, 0.1)
    ocean = np.ones(grid.shape, dtype=bool)
    ocean[rows.start, cols.start:cols.start + 2] = False  # one high, one low cell on land
    adt[~ocean] = 50.0  # finite on land: the mask alone must exclude it
    adt[0, 0] = 80.0  # outside the box
    stats = day_statistics(_day(adt, grid.with_ocean(ocean), sla=adt - 0.5), GULF_STREAM)
    assert stats["adt_std_m"] == pytest.approx(0.4, rel=1e-12)
    assert stats["sla_rms_m"] == pytest.approx(0.4, rel=1e-12)
    assert stats["geostrophic_variance_explained"] is None
    assert stats["reference_speed_rms_m_s"] is None


def test_geostrophic_speed_of_a_gaussian_jet_matches_its_analytic_speed():
    # adt = -A erf((lat - lat0) / w): an eastward jet u = (g / f R) A 2 / (sqrt(pi) w)
    # exp(-((lat - lat0) / w)^2) (w in radians), fastest on the row lat0
    amplitude, lat0, width = 1.0, 38.125, 1.0
    grid = _duacs_grid(30.125, -67.875, (56, 56))
    lat = grid.lat[:, None] + 0.0 * grid.lon[None, :]
    adt = -amplitude * erf((lat - lat0) / width)
    width_rad = math.radians(width)
    speed = (GRAVITY_M_S2 / (coriolis_parameter(lat) * EARTH_RADIUS_M) * amplitude * 2.0
             / (math.sqrt(math.pi) * width_rad) * np.exp(-(((lat - lat0) / width) ** 2)))
    rows, cols = GULF_STREAM.cells(grid)
    expected_rms = float(np.sqrt(np.mean(speed[rows, cols] ** 2)))

    stats = day_statistics(_day(adt, grid), GULF_STREAM)
    assert stats["speed_max_m_s"] == pytest.approx(speed.max(), rel=3e-3)
    assert stats["speed_rms_m_s"] == pytest.approx(expected_rms, rel=3e-3)
    # the project's second-order differences miss the jet's peak by 2 %
    u2, v2 = geostrophic_velocity(adt, grid.lat, grid.lon)
    assert np.hypot(u2, v2).max() < speed.max() * (1 - 1e-2)


def test_geostrophy_falls_back_to_the_project_stencils_next_to_land():
    grid = _duacs_grid(35.125, -60.875, (12, 12))
    adt = 0.01 * np.arange(12)[None, :] + 0.0 * grid.lat[:, None]
    adt[6, 6] = np.nan
    # a linear field: every stencil is exact, so the fallback must give the same values,
    # with only the missing cell missing (no stencil gap spreads NaN)
    for ours, project in zip(geostrophy_like_duacs(adt, grid.lat, grid.lon),
                             geostrophic_velocity(adt, grid.lat, grid.lon), strict=True):
        assert np.isnan(ours).sum() == 1
        np.testing.assert_allclose(ours, project, rtol=1e-12, atol=1e-15)


def _power_law_field(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """A periodic random field whose ring-integrated spectrum goes as k^slope."""
    k = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
    k[0, 0] = np.inf
    amplitude = k ** ((slope - 1.0) / 2.0)  # 2-D density k^(slope - 1)
    phases = np.exp(2j * np.pi * rng.random((n, n)))
    return np.real(np.fft.ifft2(amplitude * phases))


def test_ke_spectrum_slope_of_a_power_law_current():
    rng = np.random.default_rng(3)
    grid = _duacs_grid(30.125, -75.875, (64, 64))
    box = Box(30.0, 46.0, -76.0, -60.0)
    u, v = (_power_law_field(64, -3.0, rng) for _ in range(2))
    k, spectrum = ke_spectrum(u, v, grid, box)
    assert spectral_slope(k, spectrum, 50.0, 250.0) == pytest.approx(-3.0, abs=0.25)


def test_ke_spectrum_is_taken_over_the_largest_sea_rectangle_and_needs_8_cells():
    grid = _duacs_grid(30.125, -75.875, (20, 20))
    box = Box(30.0, 35.0, -76.0, -71.0)
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=(2, 20, 20))
    ocean = np.ones((20, 20), dtype=bool)
    ocean[:, 9] = False  # the box's 20 columns split into 9 and 10
    k, _ = ke_spectrum(u, v, grid.with_ocean(ocean), box)
    k_full, _ = ke_spectrum(u, v, grid, box)
    assert k.size < k_full.size  # 10 columns: a coarser Nyquist ring count
    ocean[:, 4] = ocean[7, :] = ocean[14, :] = False  # now at most 7 rows in one piece
    assert ke_spectrum(u, v, grid.with_ocean(ocean), box) is None
    assert day_statistics(_day(u, grid.with_ocean(ocean)), box)["ke_slope_50_250km"] is None


def test_largest_sea_rectangle_by_hand():
    sea = np.array([[1, 1, 0, 1, 1, 1],
                    [1, 1, 0, 1, 1, 1],
                    [1, 0, 1, 1, 1, 0],
                    [0, 1, 1, 1, 1, 1]], dtype=bool)
    assert largest_sea_rectangle(sea) == (slice(0, 4), slice(3, 5))  # 8 cells; next best 6
    assert largest_sea_rectangle(np.zeros((3, 3), dtype=bool)) == (slice(0, 0), slice(0, 0))


def test_geostrophic_share_of_orthogonal_currents():
    x = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)[None, :] + np.zeros((8, 1))
    a, b = 0.4, 0.1
    share = geostrophic_share(a * np.cos(x) + b * np.sin(x), np.zeros_like(x), a * np.cos(x),
                              np.zeros_like(x))
    assert share == pytest.approx(a**2 / (a**2 + b**2), rel=1e-12)


def test_summary_over_days_and_verdicts():
    days = [{"adt_std_m": 0.2, "speed_max_m_s": 1.3, "sla_rms_m": None},
            {"adt_std_m": 0.4, "speed_max_m_s": 1.1, "sla_rms_m": None}]
    summary = summarise(days)
    assert summary["adt_std_m"] == {"mean": pytest.approx(0.3), "min": 0.2, "max": 0.4}
    assert summary["sla_rms_m"] is None and summary["speed_rms_m_s"] is None
    assert verdicts({"adt_std_m": 0.3, "speed_max_m_s": 1.1, "sla_rms_m": None}) == {
        "adt_std_m": True, "speed_rms_m_s": None, "speed_max_m_s": False, "sla_rms_m": None}
    assert set(TARGETS) == {"adt_std_m", "speed_rms_m_s", "speed_max_m_s", "sla_rms_m"}


# --- the real DUACS day ------------------------------------------------------------------

needs_real_day = pytest.mark.skipif(
    not DUACS_DAY.exists(), reason=f"{DUACS_DAY} is absent (real DUACS files live in "
                                   "../shared/realdata/)")


@needs_real_day
def test_the_real_day_reproduces_its_published_statistics():
    (day,) = read_duacs(DUACS_DAY, GULF_STREAM)
    rows, cols = GULF_STREAM.cells(day.grid)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (40, 40)
    assert day.grid.lon[cols][0] == -64.875  # 0-360 brought to the box's convention
    stats = day_statistics(day, GULF_STREAM)
    assert round(stats["adt_std_m"], 2) == 0.42
    assert round(stats["speed_rms_m_s"], 2) == 0.52
    assert round(stats["speed_max_m_s"], 2) == 1.74
    # the product's own ugos/vgos
    assert round(stats["reference_speed_rms_m_s"], 2) == 0.52
    assert round(stats["reference_speed_max_m_s"], 2) == 1.74
    assert stats["sla_rms_m"] is None and stats["geostrophic_variance_explained"] is None
    assert -8.0 < stats["ke_slope_50_250km"] < -4.0
    assert all(verdicts(stats)[name] for name in ("adt_std_m", "speed_rms_m_s",
                                                  "speed_max_m_s"))


@needs_real_day
def test_the_fourth_order_geostrophy_is_nearer_the_product_than_second_order():
    (day,) = read_duacs(DUACS_DAY, GULF_STREAM)
    rows, cols = GULF_STREAM.cells(day.grid)
    ugos, vgos = (c[rows, cols] for c in day.reference)

    def rms_difference(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.sqrt(np.mean((u[rows, cols] - ugos) ** 2 + (v[rows, cols] - vgos) ** 2)))

    fourth = rms_difference(*geostrophy_like_duacs(day.adt, day.grid.lat, day.grid.lon))
    second = rms_difference(*geostrophic_velocity(day.adt, day.grid.lat, day.grid.lon))
    assert fourth < 0.7 * second


# --- DUACS-like files and the command ----------------------------------------------------


def _write_l4(path: Path, lat: np.ndarray, lon: np.ndarray, variables: dict[str, np.ndarray],
              units: str = "m") -> Path:
    """A DUACS-like L4 file of one day: (time, latitude, longitude) variables."""
    data = {name: (("time", "latitude", "longitude"), values[None],
                   {"units": units if name in ("adt", "sla") else "m/s"})
            for name, values in variables.items()}
    xr.Dataset(data, coords={"time": [np.datetime64("2019-02-23")], "latitude": lat,
                             "longitude": lon}).to_netcdf(path)
    return path


def _synthetic_l4(path: Path, lat_range: tuple[float, float] = (30.0, 46.0)) -> Path:
    """A 0.25 degree L4 in 0-360 longitudes with a jet, a land corner and ugos/vgos."""
    lat = np.arange(lat_range[0] + 0.125, lat_range[1], 0.25)
    lon = np.arange(290.125, 310.0, 0.25)
    adt = 1.5 * np.tanh((lat[:, None] - 38.0) / 1.0) + 0.0 * lon[None, :]
    adt[-8:, :8] = np.nan
    ugos, vgos = geostrophic_velocity(adt, lat, lon)
    return _write_l4(path, lat, lon, {"adt": adt, "ugos": ugos, "vgos": vgos})


def test_a_file_without_adt_a_box_outside_and_bad_units_are_refused_naming_the_file(tmp_path):
    lat, lon = np.arange(30.125, 46.0, 0.25), np.arange(290.125, 310.0, 0.25)
    field = np.zeros((lat.size, lon.size))
    no_adt = _write_l4(tmp_path / "no_adt.nc", lat, lon, {"sla": field})
    with pytest.raises(InputFileError, match="no variable 'adt'") as caught:
        read_duacs(no_adt, GULF_STREAM)
    assert caught.value.path == no_adt
    south = _synthetic_l4(tmp_path / "south.nc", lat_range=(20.0, 36.0))
    with pytest.raises(InputFileError, match="outside its latitudes"):
        read_duacs(south, GULF_STREAM)
    with pytest.raises(InputFileError, match="outside its longitudes"):
        read_duacs(_synthetic_l4(tmp_path / "l4.nc"), Box(33.0, 43.0, 10.0, 20.0))
    cm = _write_l4(tmp_path / "cm.nc", lat, lon, {"adt": field}, units="cm")
    with pytest.raises(InputFileError, match="units 'cm'"):
        read_duacs(cm, GULF_STREAM)


@pytest.fixture(scope="module")
def nested_tiny_ocean(tmp_path_factory) -> Path:
    """The tiny ocean's first 10 days on 80 x 80 cells of 0.05 degree that nest in DUACS's
    (36-40 N, 62-58 W; the tiny configuration's own 0.1 degree cells do not nest). Returns
    its truth file."""
    from varnet.config import load_toml
    from varnet.osse.config import OsseConfig
    from varnet.osse.generate import generate

    config = load_toml(OsseConfig, Path(__file__).resolve().parents[1] / "configs" /
                       "osse-tiny.toml")
    start = config.calendar.start
    calendar = dataclasses.replace(config.calendar, end=start + dt.timedelta(days=9), periods={
        "train": (start, start + dt.timedelta(days=6)),
        "test": (start + dt.timedelta(days=7), start + dt.timedelta(days=9))})
    grid = dataclasses.replace(config.grid, lat_min=36.025, lon_min=-61.975,
                               resolution_deg=0.05, nlat=80, nlon=80)
    out = tmp_path_factory.mktemp("nested_tiny_ocean")
    generate(dataclasses.replace(config, calendar=calendar, grid=grid), out, progress=False)
    return out / "truth.nc"


def test_the_command_writes_the_report_and_a_readable_figure(nested_tiny_ocean, tmp_path):
    duacs = _synthetic_l4(tmp_path / "l4.nc")
    out = tmp_path / "realism"
    result = CliRunner().invoke(osse_main, [
        "realism", "--truth", str(nested_tiny_ocean), "--duacs", str(duacs), "--day",
        "2012-10-05", "--box", "36.5,39.5,-61.5,-58.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ADT std (m)" in result.output

    report = json.loads((out / "realism.json").read_text())
    assert report["ours"]["days"] == 10
    assert report["ours_day"]["day"] == "2012-10-05"
    assert report["real"]["days"] == ["2019-02-23"]
    ours = report["ours"]["statistics"]
    assert ours["adt_std_m"]["min"] <= ours["adt_std_m"]["mean"] <= ours["adt_std_m"]["max"]
    assert 0.9 < ours["geostrophic_variance_explained"]["mean"] <= 1.0
    assert report["real"]["statistics"]["sla_rms_m"] is None  # absent, not zero
    assert report["targets"]["sla_rms_m"]["real"] is None
    assert isinstance(report["targets"]["adt_std_m"]["ours_day"], bool)
    # the file's jet: 1.5 m tanh over 1 degree of latitude, about 1.45 m/s on its core cells
    assert report["real"]["statistics"]["speed_max_m_s"]["mean"] > 1.2
    image = matplotlib.image.imread(out / "realism.png")
    assert image.ndim == 3 and image.shape[0] > 500 and image.shape[1] > 1000


def test_the_command_stops_in_one_line_on_a_file_without_adt(nested_tiny_ocean, tmp_path):
    lat, lon = np.arange(30.125, 46.0, 0.25), np.arange(290.125, 310.0, 0.25)
    bad = _write_l4(tmp_path / "no_adt.nc", lat, lon, {"sla": np.zeros((lat.size, lon.size))})
    result = CliRunner().invoke(osse_main, [
        "realism", "--truth", str(nested_tiny_ocean), "--duacs", str(bad), "--box",
        "36.5,39.5,-61.5,-58.5", "--out", str(tmp_path / "out")])
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.startswith(f"error: {bad}: has no variable 'adt'")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_command_refuses_a_box_outside_the_truth(nested_tiny_ocean, tmp_path):
    result = CliRunner().invoke(osse_main, [
        "realism", "--truth", str(nested_tiny_ocean), "--duacs",
        str(_synthetic_l4(tmp_path / "l4.nc")), "--out", str(tmp_path / "out")])
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.startswith(
        f"error: {nested_tiny_ocean}: at the product's cells, the box 33-43 N, 65-55 W")

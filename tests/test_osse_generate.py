"""End to end: the tiny synthetic ocean, its files read back by independent readers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from varnet.config import load_toml
from varnet.io.names import parse_alongtrack_filename
from varnet.io.readers import read_alongtrack, read_sst, read_truth
from varnet.kernels.finite_differences import geostrophic_velocity, relative_vorticity
from varnet.osse.cli import main
from varnet.osse.config import OsseConfig
from varnet.osse.generate import OsseProducts, generate

TINY = Path(__file__).resolve().parents[1] / "configs" / "osse-tiny.toml"


@pytest.fixture(scope="module")
def tiny_config() -> OsseConfig:
    return load_toml(OsseConfig, TINY)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_config) -> OsseProducts:
    return generate(tiny_config, tmp_path_factory.mktemp("tiny"), progress=False)


@pytest.fixture(scope="module")
def truth(tiny) -> xr.Dataset:
    ds = read_truth(tiny.truth)
    yield ds.load()
    ds.close()


def test_geostrophic_part_is_geostrophy_of_the_true_ssh(truth):
    ug, vg = geostrophic_velocity(truth["ssh"].values.astype(np.float64), truth.lat.values,
                                  truth.lon.values)
    scale = float(np.sqrt(np.mean(truth["ugos"].values ** 2)))
    # float32 storage of ssh is the only difference
    np.testing.assert_allclose(ug, truth["ugos"].values, atol=1e-4 * scale)
    np.testing.assert_allclose(vg, truth["vgos"].values, atol=1e-4 * scale)


def test_total_current_is_the_sum_of_its_parts(truth):
    for c in ("u", "v"):
        parts = truth[f"{c}gos"] + truth[f"{c}cg"] + truth[f"{c}ag"]
        np.testing.assert_allclose(truth[c].values, parts.values, atol=1e-6)


def _rms(*arrays: np.ndarray) -> float:
    return float(np.sqrt(sum(np.mean(a**2) for a in arrays)))


def test_ageostrophic_parts_are_nonzero_and_of_rossby_order(truth):
    lat, lon = truth.lat.values, truth.lon.values
    f = 2 * 7.2921159e-5 * np.sin(np.deg2rad(lat))[:, None]
    ug, vg = truth["ugos"].values, truth["vgos"].values
    rossby = _rms(relative_vorticity(ug, vg, lat, lon) / f)
    geo = _rms(ug, vg)
    cyclo = _rms(truth["ucg"].values, truth["vcg"].values) / geo
    diverg = _rms(truth["uag"].values, truth["vag"].values) / geo
    # Both corrections scale as Ro |u_g|: within a factor of a few of the Rossby number.
    assert rossby / 4 < cyclo < 2 * rossby
    assert rossby / 30 < diverg < 2 * rossby


def test_cyclogeostrophy_slows_cyclones_and_speeds_up_anticyclones(truth):
    lat, lon = truth.lat.values, truth.lon.values
    ug, vg = truth["ugos"].values, truth["vgos"].values
    zeta = relative_vorticity(ug, vg, lat, lon)
    along = ug * truth["ucg"].values + vg * truth["vcg"].values  # > 0 speeds the flow up
    inner = (slice(None), slice(3, -3), slice(3, -3))
    strong = np.abs(zeta[inner]) > 2 * np.nanstd(zeta[inner])
    assert np.mean(along[inner][strong & (zeta[inner] > 0)]) < 0
    assert np.mean(along[inner][strong & (zeta[inner] < 0)]) > 0


def test_truth_file_carries_cf_metadata_and_the_calendar(truth, tiny_config):
    assert truth.attrs["Conventions"] == "CF-1.8"
    assert truth["u"].attrs["standard_name"] == "eastward_sea_water_velocity"
    assert truth["ugos"].attrs["standard_name"] == (
        "surface_geostrophic_eastward_sea_water_velocity")
    assert truth["sst"].attrs["units"] == "K"
    assert truth.lat.attrs["axis"] == "Y" and truth.lon.attrs["units"] == "degrees_east"
    days = tiny_config.calendar.days
    assert truth.sizes["time"] == len(days)
    assert truth.time.values[0] == np.datetime64(f"{days[0].isoformat()}T12:00")
    assert truth.attrs["period_test"] == "2012-10-22/2012-10-30"
    assert json.loads(truth.attrs["osse_config"])["seed"] == tiny_config.seed


def test_truth_file_passes_cf_checks(tiny, cf_failures):
    assert cf_failures(tiny.truth) == []


def test_alongtrack_files_read_back_as_cmems_l3(tiny, tiny_config, truth):
    assert len(tiny.alongtrack) == 4 * len(tiny_config.calendar.days)
    missions, points = set(), 0
    for path in tiny.alongtrack:
        name = parse_alongtrack_filename(path.name)
        assert name.production == name.day + dt.timedelta(days=1)
        track = read_alongtrack(path)
        missions.add(name.mission)
        points += len(track)
        if len(track):
            days = track.time.astype("datetime64[D]").astype(object)
            assert set(days) == {name.day}
            assert np.all(np.abs(track.sla) < 1.0)
            assert track.longitude.min() >= truth.lon.values[0] - 0.05
    assert missions == {"tpn", "j1", "en", "g2"}
    assert points > 1000
    biggest = max(tiny.alongtrack, key=lambda p: p.stat().st_size)
    with xr.open_dataset(biggest) as raw:
        assert raw["sla_filtered"].attrs["units"] == "m"
        assert raw["sla_filtered"].encoding["_FillValue"] == 32767
        assert raw["longitude"].values.min() >= 0.0  # CMEMS stores 0..360


def test_observations_are_truth_plus_two_centimetre_noise(tiny, truth):
    diffs = []
    for path in tiny.alongtrack[:60]:
        track = read_alongtrack(path, variable="sla_unfiltered")
        if not len(track):
            continue
        sampled = truth["sla"].interp(
            time=xr.DataArray(track.time, dims="p"), lat=xr.DataArray(track.latitude, dims="p"),
            lon=xr.DataArray(track.longitude, dims="p")).values
        ok = np.isfinite(sampled)
        diffs.append(track.sla[ok] - sampled[ok])
    diff = np.concatenate(diffs)
    assert abs(diff.mean()) < 0.003
    assert diff.std() == pytest.approx(0.02, rel=0.15)


def test_sst_files_read_back_as_ghrsst(tiny, truth, tiny_config):
    assert len(tiny.sst_l4) == len(tiny.sst_l3) == len(tiny_config.calendar.days)
    l4 = read_sst(tiny.sst_l4[3])
    assert l4.level == "L4" and l4.day == dt.date(2012, 10, 4)
    np.testing.assert_allclose(l4.lat, truth.lat.values, atol=1e-6)
    np.testing.assert_allclose(l4.sst_k, truth["sst"].values[3], atol=0.006)
    l3 = read_sst(tiny.sst_l3[3])
    cloudy = np.isnan(l3.sst_k).mean()
    assert 0.3 < cloudy < 0.95
    clear = ~np.isnan(l3.sst_k)
    assert np.std(l3.sst_k[clear] - truth["sst"].values[3][clear]) == pytest.approx(0.2, rel=0.2)


def test_diagnostics_json_and_quicklook(tiny):
    summary = json.loads(tiny.diagnostics.read_text())
    for key in ("sla_rms_m", "rossby_rms", "ssh_spectral_slope_50_250km",
                "geostrophic_variance_explained", "divergence_to_vorticity_rms",
                "observed_cell_fraction_per_day", "speed_rms_m_s",
                "kinetic_energy_peak_wavelength_km"):
        assert np.isfinite(summary[key]), key
    assert 0.0 < summary["divergence_to_vorticity_rms"] < 1.0
    assert 0.8 < summary["geostrophic_variance_explained"] < 1.0
    assert tiny.quicklook.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_gives_identical_files(tiny, tiny_config, tmp_path):
    again = generate(tiny_config, tmp_path, progress=False)
    first = sorted(p.relative_to(tiny.out_dir) for p in tiny.out_dir.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again.out_dir) for p in again.out_dir.rglob("*")
                    if p.is_file())
    assert first == second
    for rel in first:
        assert (tiny.out_dir / rel).read_bytes() == (again.out_dir / rel).read_bytes(), rel


def test_another_seed_gives_other_observations(tiny, tiny_config, tmp_path):
    short = dataclasses.replace(
        tiny_config, seed=tiny_config.seed + 1,
        calendar=dataclasses.replace(tiny_config.calendar, end=dt.date(2012, 10, 3),
                                     periods={}))
    other = generate(short, tmp_path, progress=False)
    a = read_alongtrack(tiny.alongtrack[1], variable="sla_unfiltered")
    b = read_alongtrack(other.alongtrack[1], variable="sla_unfiltered")
    assert len(a) == len(b) > 0
    assert not np.allclose(a.sla, b.sla)


def test_cli_generates_and_reports(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--config", str(TINY), "--out",
                                       str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "sla_rms_m" in result.output and (tmp_path / "truth.nc").is_file()


@pytest.mark.parametrize("text, key", [
    ("[ocean]\nnx = 33\n", "ocean.nx"),
    ("[ocean]\nnx = 'big'\n", "ocean.nx"),
    ("[grid]\nresolution = 0.1\n", "grid.resolution"),
    ("[calendar]\nstart = '2013-01-01'\nend = '2012-01-01'\n", "calendar.end"),
    ("[calendar.periods]\ntest = ['2011-01-01', '2011-02-01']\n", "calendar.periods.test"),
    ("[sst]\nreference_k = 15.0\n", "sst.reference_k"),
    ("[ocean]\ndomain_km = 500.0\n", "ocean.domain_km"),
    ("[grid]\nlat_min = -2.0\n", "grid.lat_min"),
    ("[altimetry]\nproduct = 'rt'\n", "altimetry.product"),
])
def test_bad_configuration_is_refused_naming_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["generate", "--config", str(path), "--out",
                                       str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert key in result.output and str(path) in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "truth.nc").exists()


def test_interrupted_run_keeps_the_previous_truth(tiny_config, tmp_path, monkeypatch):
    short = dataclasses.replace(
        tiny_config, calendar=dataclasses.replace(tiny_config.calendar,
                                                  end=dt.date(2012, 10, 4), periods={}))
    first = generate(short, tmp_path, progress=False)
    before = first.truth.read_bytes()
    # A rerun with a shorter calendar removes the days it no longer makes, and nothing else.
    (tmp_path / "alongtrack" / "notes.nc").write_bytes(b"user file")
    shorter = dataclasses.replace(short, calendar=dataclasses.replace(
        short.calendar, end=dt.date(2012, 10, 2)))
    rerun = generate(shorter, tmp_path, progress=False)
    assert sorted((tmp_path / "alongtrack").glob("*_2012100[34]_*.nc")) == []
    assert len(list((tmp_path / "sst" / "l4").glob("*.nc"))) == len(rerun.sst_l4) == 2
    assert (tmp_path / "alongtrack" / "notes.nc").exists()
    first = generate(short, tmp_path, progress=False)
    before = first.truth.read_bytes()

    def explode(self, day, fields):
        raise KeyboardInterrupt

    monkeypatch.setattr("varnet.osse.truth_file.TruthWriter.append", explode)
    with pytest.raises(KeyboardInterrupt):
        generate(dataclasses.replace(short, seed=99), tmp_path, progress=False)
    assert first.truth.read_bytes() == before
    assert not list(tmp_path.glob("*.partial"))


def test_spinup_command_writes_a_state_that_generate_accepts(tmp_path):
    config = tmp_path / "small.toml"
    state = tmp_path / "state.npz"
    config.write_text(TINY.read_text().replace('time_step_s = 3600.0',
                                               f'time_step_s = 3600.0\ninitial_state = "{state}"'))
    result = CliRunner().invoke(main, ["spinup", "--config", str(config), "--out", str(state),
                                       "--years", "0.05", "--refine-days", "2"])
    assert result.exit_code == 0, result.output
    cfg = load_toml(OsseConfig, config)
    short = dataclasses.replace(cfg, calendar=dataclasses.replace(
        cfg.calendar, end=dt.date(2012, 10, 2), periods={}))
    products = generate(short, tmp_path / "out", progress=False)
    assert read_truth(products.truth).sizes["time"] == 2


def test_tiny_ocean_falls_in_the_ranges_of_a_real_midlatitude_ocean(tiny):
    s = tiny.summary
    assert 0.04 <= s["sla_rms_m"] <= 0.12
    assert 0.07 <= s["rossby_rms"] <= 0.3
    assert -6.0 <= s["ssh_spectral_slope_50_250km"] <= -3.5
    assert 0.90 <= s["geostrophic_variance_explained"] <= 0.995
    assert s["divergence_to_vorticity_rms"] > 0.01
    assert 0.005 <= s["observed_cell_fraction_per_day"] <= 0.05
    assert 100.0 <= s["kinetic_energy_peak_wavelength_km"] <= 400.0

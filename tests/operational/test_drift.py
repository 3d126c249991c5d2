"""varnet-ops drift: particles drifted with OpenDrift in the products, the truth and the OI's
geostrophy, and their Lagrangian skill.

Distances are checked against values computed independently of OpenDrift: a particle in a
uniform current u travels u x 86400 s a day (0.2 m/s: 17.28 km), two uniform fields 0.1 m/s
apart separate by 8.64 km a day, and the Liu-Weisberg score of hand-made trajectories is
worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from test_pipeline import TinyModel, alongtrack_files, make_ops

from varnet.io.readers import read_truth
from varnet.operational import drift
from varnet.operational import products as prod
from varnet.operational.cli import main
from varnet.operational.ingest import ingest

START = dt.date(2012, 10, 10)
RELEASE = dt.datetime(2012, 10, 10, 12)
#: The tiny ocean's truth grid (64 x 64 cells of 0.1 degree from 34.85 N, 63.15 W).
TRUTH_REGION = {"lat_min": 34.85, "lon_min": -63.15, "resolution_deg": 0.1, "nlat": 64,
                "nlon": 64}
SHA = "0" * 64


@pytest.fixture(scope="module")
def opendrift():
    pytest.importorskip("opendrift")
    return drift.require_opendrift()


def uniform(u_by_day: list[float], v: float = 0.0, days_no_data: tuple = ()):
    """A current dataset on 34-36 N, 64-61 W, uniform in space, one field per day from
    RELEASE; ``days_no_data`` are (lat slice, lon slice) blocks set to NaN."""
    lat = np.round(np.arange(34.0, 36.001, 0.1), 6)
    lon = np.round(np.arange(-64.0, -60.999, 0.1), 6)
    shape = (len(u_by_day), lat.size, lon.size)
    u = np.broadcast_to(np.asarray(u_by_day, dtype=float)[:, None, None], shape).copy()
    for block in days_no_data:
        u[(slice(None), *block)] = np.nan
    times = np.datetime64(RELEASE, "ns") + np.arange(len(u_by_day)) * np.timedelta64(1, "D")
    return drift.current_dataset(u, np.full(shape, v), times, lat, lon)


def travelled_km(run: drift.Trajectories, k: int) -> np.ndarray:
    return drift.separation_km(run.lon[:, 0], run.lat[:, 0], run.lon[:, k], run.lat[:, k])


# --------------------------------------------------------------------------------------------
# OpenDrift against uniform currents


def test_a_particle_in_a_uniform_current_travels_u_times_time(opendrift):
    lon0, lat0 = np.array([-63.5, -62.5]), np.array([34.5, 35.5])
    run = drift.drift_particles(uniform([0.2, 0.2, 0.2]), lon0, lat0, RELEASE, 48)
    assert run.lon.shape == (2, 49) and run.times[0] == np.datetime64(RELEASE, "s")
    np.testing.assert_allclose(travelled_km(run, 24), 0.2 * 86400 / 1000, rtol=1e-4)  # 17.28
    np.testing.assert_allclose(travelled_km(run, 48), 2 * 17.28, rtol=1e-4)
    np.testing.assert_allclose(run.lat[:, -1], lat0, atol=1e-4)  # due east
    assert (np.diff(run.lon, axis=1) > 0).all()


def test_fields_are_interpolated_linearly_in_time_between_days(opendrift):
    # u grows from 0 to 0.2 m/s over the first day: a mean of 0.1 m/s, 8.64 km
    run = drift.drift_particles(uniform([0.0, 0.2]), np.array([-63.0]), np.array([35.0]),
                                RELEASE, 24)
    np.testing.assert_allclose(travelled_km(run, 24), 8.64, rtol=1e-3)


def test_two_uniform_fields_separate_by_their_difference_and_score_by_hand(opendrift):
    lon0, lat0 = np.array([-63.5, -63.0, -62.5]), np.array([34.5, 35.0, 35.5])
    truth = drift.drift_particles(uniform([0.2] * 3), lon0, lat0, RELEASE, 48)
    faster = drift.drift_particles(uniform([0.3] * 3), lon0, lat0, RELEASE, 48)
    table = drift.lagrangian_skill(truth, {"faster": faster}, [1, 2])
    row = table.loc["faster"]
    assert row["separation_1d_km"] == pytest.approx(8.64, rel=1e-3)
    assert row["separation_2d_km"] == pytest.approx(17.28, rel=1e-3)
    # separations 0.1 t, truth path 0.2 t at every output time: c = 0.5, s = 1 - c = 0.5
    assert row["skill_1d"] == pytest.approx(0.5, abs=1e-3)
    assert row["skill_2d"] == pytest.approx(0.5, abs=1e-3)
    assert row["particles_1d"] == row["particles_2d"] == 3


def test_particles_leaving_the_field_or_meeting_no_data_are_stopped(opendrift):
    # 0.5 m/s = 43.2 km/day east; a no-data block 0.2 degree east of the first particle, the
    # second near the east edge (61 W) leaves the field after about 19 km
    field = uniform([0.5, 0.5], days_no_data=((slice(8, 13), slice(12, 15)),))
    lat, lon = field["latitude"].values, field["longitude"].values
    sea = np.isfinite(field["uo"].values[0])
    mask = drift._no_data_mask(lat, lon, sea)
    run = drift.drift_particles(field, np.array([-63.0, -61.2, -63.5]),
                                np.array([35.0, 35.5, 34.3]), RELEASE, 24, no_data=mask)
    stranded, left, free = run.lon
    assert np.isnan(stranded[-1]) and np.nanmax(stranded) < -62.8 + 0.05
    assert np.isnan(left[-1]) and np.nanmax(left) <= -61.0
    assert np.isfinite(free).all()
    assert travelled_km(run, 24)[2] == pytest.approx(43.2, rel=1e-3)


# --------------------------------------------------------------------------------------------
# the score and the seeding, by hand


def test_liu_weisberg_score_of_hand_made_trajectories():
    # truth along the equator, 0.01 degree per step; a run overshooting by 0.01 degree more per
    # step after the first; 1 degree of longitude on the WGS84 equator is 111.3195 km
    step = 111.319491 * 0.01
    times = (np.datetime64(RELEASE, "s") + np.arange(4) * np.timedelta64(8, "h"))
    truth_lon = np.array([[0.0, 0.01, 0.02, 0.03]] * 3)
    run_lon = np.array([[0.0, 0.01, 0.03, 0.05],     # d = 0, 1, 2 steps; l = 1, 2, 3 steps
                        [0.0, 0.5, 1.0, 1.5],        # far off: c > 1, s = 0
                        [0.0, 0.01, np.nan, np.nan]])  # left the field: not counted
    zeros = np.zeros_like(truth_lon)
    truth = drift.Trajectories(times, truth_lon, zeros)
    run = drift.Trajectories(times, run_lon, zeros)
    separation = drift.separation_km(run_lon, zeros, truth_lon, zeros)
    np.testing.assert_allclose(separation[0], [0, 0, step, 2 * step], rtol=1e-6)
    path = drift.cumulative_path_km(truth_lon, zeros)
    np.testing.assert_allclose(path[0], [0, step, 2 * step, 3 * step], rtol=1e-6)
    s = drift.liu_weisberg_skill(separation[:, 1:], path[:, 1:])
    # c = (0 + 1 + 2) / (1 + 2 + 3) = 0.5; c = (49 + 98 + 147) / 6 > 1
    np.testing.assert_allclose(s[:2], [0.5, 0.0], atol=1e-9)
    assert np.isnan(s[2])
    # c = 3 / 8: s = 1 - c / n is 0.25 with n = 0.5, and 0 (not -0.5) with n = 0.25
    assert drift.liu_weisberg_skill([[1.0, 2.0]], [[4.0, 4.0]], tolerance=0.5)[0] == 0.25
    assert drift.liu_weisberg_skill([[1.0, 2.0]], [[4.0, 4.0]], tolerance=0.25)[0] == 0.0
    row = drift.lagrangian_skill(truth, {"run": run}, [1]).loc["run"]
    assert row["particles_1d"] == 2
    assert row["skill_1d"] == pytest.approx(0.25)  # mean of 0.5 and 0
    assert row["separation_1d_km"] == pytest.approx((2 * step + 147 * step) / 2, rel=1e-6)


def test_seeds_form_a_regular_lattice_on_sea_cells_only():
    lat = 30.0 + 0.1 * np.arange(50)
    lon = -20.0 + 0.1 * np.arange(60)
    sea = np.ones((50, 60), bool)
    sea[20:40, 10:30] = False
    lon0, lat0, spacing = drift.seed_positions(lat, lon, sea, spacing_km=25.0)
    assert spacing == 25.0
    j = np.abs(lat[:, None] - lat0).argmin(axis=0)
    i = np.abs(lon[:, None] - lon0).argmin(axis=0)
    assert sea[j, i].all()
    rows = np.unique(lat0)
    assert np.diff(rows) * 111.195 == pytest.approx(np.full(rows.size - 1, 25.0), rel=1e-3)
    assert lat0.min() >= lat[0] and lon0.max() <= lon[-1]
    lon1, _, spacing1 = drift.seed_positions(lat, lon, sea, particles=40)
    assert 30 <= lon1.size <= 50 and spacing1 > 25.0
    with pytest.raises(drift.DriftError, match="no release point"):
        drift.seed_positions(lat, lon, np.zeros_like(sea), spacing_km=25.0)
    with pytest.raises(ValueError, match="one of"):
        drift.seed_positions(lat, lon, sea, spacing_km=25.0, particles=3)


# --------------------------------------------------------------------------------------------
# on the tiny ocean


def write_products(folder: Path, truth_path: Path, days: int, du: float = 0.0) -> None:
    """Products of START to START + days whose current is the truth's (+ du m/s east)."""
    provenance = prod.ProductProvenance("truth-as-product", SHA)
    with read_truth(truth_path) as truth:
        for k in range(days + 1):
            day = START + dt.timedelta(days=k)
            t = truth.sel(time=np.datetime64(day.isoformat()) + np.timedelta64(12, "h")).load()
            path = prod.write_product(folder, "tiny", day, dt.date(2012, 11, 1),
                                      t["lat"].values, t["lon"].values,
                                      {"sla": t["sla"].values, "uo": t["u"].values + du,
                                       "vo": t["v"].values}, provenance)
            prod.update_latest_link(folder, "tiny", day, path)


def test_a_uniform_current_error_separates_particles_by_about_its_drift(opendrift, tiny_ocean,
                                                                         tmp_path):
    write_products(tmp_path, tiny_ocean.truth, 1, du=0.1)
    products, paths = drift.product_currents(tmp_path, "tiny", START, 1)
    assert [p.name for p in paths] == ["tiny_varnet_phy_l4_20121010.nc",
                                       "tiny_varnet_phy_l4_20121011.nc"]
    assert list(products.data_vars) == ["uo", "vo"]  # never the geostrophic velocities
    assert products["time"].values[0] == np.datetime64(RELEASE, "ns")  # centre of the day
    truth = drift.truth_currents(tiny_ocean.truth, START, 1)
    sea = np.isfinite(products["uo"].values[0])
    lon0, lat0, _ = drift.seed_positions(products["latitude"].values,
                                         products["longitude"].values, sea, spacing_km=100.0)
    reference = drift.drift_particles(truth, lon0, lat0, RELEASE, 24)
    shifted = drift.drift_particles(products, lon0, lat0, RELEASE, 24)
    # the 0.1 m/s error alone moves a particle 8.64 km east in a day; the shear of the truth
    # spreads that a little
    row = drift.lagrangian_skill(reference, {"shifted": shifted}, [1]).loc["shifted"]
    assert row["particles_1d"] >= 0.8 * lon0.size
    assert 8.64 <= row["separation_1d_km"] <= 1.2 * 8.64
    east = (shifted.lon[:, 24] - reference.lon[:, 24]) * 111.195 * np.cos(np.radians(38.0))
    assert np.nanmean(east) == pytest.approx(8.64, rel=0.1)
    with pytest.raises(drift.DriftError, match="no product for 1 of the 3 days"):
        drift.product_currents(tmp_path, "tiny", START, 2)
    with pytest.raises(drift.DriftError, match="no truth at 12:00 UTC of 2012-10-31"):
        drift.truth_currents(tiny_ocean.truth, dt.date(2012, 10, 29), 2)


def test_opendrift_drifts_with_the_total_current_of_a_whole_product_file(opendrift, tmp_path):
    """A DUACS-layout product read as it is by OpenDrift's generic CF reader: of the three
    eastward currents it holds (uo, ugosa, ugos), the particle must follow uo."""
    lat = np.round(np.arange(34.0, 36.001, 0.1), 6)
    lon = np.round(np.arange(-64.0, -60.999, 0.1), 6)
    shape = (lat.size, lon.size)
    # an SLA rising 0.5 m per degree northward: a geostrophic current of about -0.5 m/s,
    # westward; the total current is 0.2 m/s eastward
    sla = np.broadcast_to(0.5 * (lat - 35.0)[:, None], shape)
    fields = {"sla": sla, "uo": np.full(shape, 0.2), "vo": np.zeros(shape)}
    provenance = prod.ProductProvenance("uniform", SHA, mdt_source="a uniform 0.3 m (test)")
    paths = [prod.write_product(tmp_path, "box", START + dt.timedelta(days=k), START, lat, lon,
                                fields, provenance, mdt=np.full(shape, 0.3)) for k in (0, 1)]
    with prod.read_product(paths[0]) as first:
        assert first["ugosa"].values[0, 10, 10] < -0.4 and first["ugos"].values[0, 10, 10] < -0.4
    dataset = xr.concat([xr.open_dataset(p) for p in paths], dim="time", data_vars="minimal")
    start = dt.datetime(START.year, START.month, START.day)
    run = drift.drift_particles(dataset, np.array([-63.0]), np.array([35.0]), start, 24)
    np.testing.assert_allclose(travelled_km(run, 24), 17.28, rtol=1e-3)
    assert run.lon[0, 24] > run.lon[0, 0]


def oi_model(path: Path) -> TinyModel:
    """An ONNX file carrying only the metadata operations read: the model's OI parameters."""
    onnx = pytest.importorskip("onnx")
    from varnet.config import to_mapping
    from varnet.kernels.oi import OIConfig
    from varnet.runtime.metadata import ModelMetadata, TensorSpec

    specs = [TensorSpec(n, u, n) for n, u in (("oi", "m"), ("obs", "m"), ("sst", "K"))]
    outs = [TensorSpec(n, u, n) for n, u in (("ssh", "m"), ("u", "m s-1"), ("v", "m s-1"))]
    metadata = ModelMetadata(
        model_id="oi-only", model_kind="4dvarnet", uses_sst=True, varnet_version="0",
        torch_version="0", opset=20,
        config={"data": {"oi": to_mapping(OIConfig(time_scale_days=1.0))}},
        config_sha256=SHA, weights_sha256=SHA,
        grid={"lat0": 34.85, "lon0": -63.15, "resolution_deg": 0.1, "shape": [64, 64]},
        window_days=3, patch=[3, 32, 32], spatial_multiple=4, inputs=specs, outputs=outs,
        normalisation={}, training_period=[], validation_period=[], test_period=[])
    helper, proto = onnx.helper, onnx.TensorProto
    graph = helper.make_graph([helper.make_node("Identity", ["oi"], ["ssh"])], "oi-only",
                              [helper.make_tensor_value_info("oi", proto.FLOAT, [1])],
                              [helper.make_tensor_value_info("ssh", proto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    for key, value in metadata.flat_properties().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(model, path)
    return TinyModel(path, path.with_suffix(".pt"))


def test_varnet_ops_drift_end_to_end(opendrift, tiny_ocean, tmp_path):
    """Products equal to the truth drift with the truth; the OI's geostrophy does not."""
    ops = make_ops(tmp_path / "ops", oi_model(tmp_path / "oi.onnx"), region=TRUTH_REGION)
    ops.deliver(alongtrack_files(tiny_ocean.out_dir, dt.date(2012, 10, 8),
                                 dt.date(2012, 10, 14)))
    ingest(ops.config)
    write_products(ops.products, tiny_ocean.truth, 2)
    out = tmp_path / "drift"
    result = CliRunner().invoke(main, [
        "drift", "--config", str(ops.toml), "--truth", str(tiny_ocean.truth),
        "--start", "2012-10-10", "--days", "2", "--spacing-km", "120", "--out", str(out),
        "--quiet"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "| current | separation 1 d (km) | separation 2 d (km) | skill 1 d | skill 2 d |" \
        in text
    assert "| varnet products | 0.00 | 0.00 | 1.000 | 1.000 |" in text
    assert "OI geostrophy" in text and "Liu & Weisberg (2011)" in text

    table = pd.read_csv(out / "drift_skill.csv", index_col=0)
    assert list(table.index) == ["varnet products", "OI geostrophy"]
    products, oi = table.loc["varnet products"], table.loc["OI geostrophy"]
    assert products["separation_2d_km"] < 0.01 and products["skill_2d"] > 0.999
    assert oi["separation_1d_km"] > 1.0 and oi["separation_2d_km"] > oi["separation_1d_km"]
    assert 0.0 <= oi["skill_2d"] < 0.95
    assert products["particles_2d"] == oi["particles_2d"] >= 10

    document = json.loads((out / "drift_skill.json").read_text())
    assert document["start"] == "2012-10-10T12:00:00Z" and document["days"] == 2
    assert document["horizons_days"] == [1, 2]
    assert document["skill"]["OI geostrophy"]["separation_2d_km"] == pytest.approx(
        oi["separation_2d_km"], rel=1e-5)
    assert document["oi"]["parameters"]["time_scale_days"] == 1.0
    assert "10.1029/2010JC006837" in document["reference"]
    assert len(document["products"]) == 3 and document["particles"] >= 10

    from PIL import Image

    with Image.open(out / "drift_trajectories.png") as image:
        image.verify()
    with Image.open(out / "drift_trajectories.png") as image:
        assert image.format == "PNG" and min(image.size) > 400
    assert (out / "drift_trajectories.nc").is_file()

    missing = CliRunner().invoke(main, [
        "drift", "--config", str(ops.toml), "--truth", str(tiny_ocean.truth),
        "--start", "2012-10-11", "--days", "3", "--out", str(out)])
    assert missing.exit_code == 1
    assert "no product for 2 of the 4 days" in missing.output


def test_drift_without_opendrift_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "opendrift", None)  # import opendrift -> ImportError
    toml = tmp_path / "ops.toml"
    toml.write_text('name = "tiny"\n[model]\npath = "m.onnx"\n[paths]\ninbox = "i"\n'
                    'archive = "a"\nquarantine = "q"\nproducts = "p"\nstate = "s"\n'
                    '[region]\nlat_min = 34.9\nlon_min = -63.1\nresolution_deg = 0.2\n'
                    'nlat = 32\nnlon = 32\n')
    truth = tmp_path / "truth.nc"
    truth.write_bytes(b"")
    result = CliRunner().invoke(main, ["drift", "--config", str(toml), "--truth", str(truth),
                                       "--start", "2012-10-10"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert lines[0].endswith("pip install 'varnet[drift]'")


def test_operations_import_neither_opendrift_nor_torch():
    code = ("import sys, varnet.operational.cli, varnet.operational.drift; "
            "print(sorted(m for m in ('opendrift', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_distances_are_nan_where_a_position_is_missing():
    d = drift.separation_km([0.0, np.nan], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0])
    assert d[0] == pytest.approx(111.319491, rel=1e-6) and math.isnan(d[1])


def test_importing_opendrift_leaves_matplotlib_settings_alone(opendrift):
    """OpenDrift's import sets figure.autolayout for the whole process; our quicklooks and
    figures have hand-made layouts that it would break."""
    import matplotlib

    code = ("import matplotlib; before = dict(matplotlib.rcParams); "
            "from varnet.operational.drift import require_opendrift; require_opendrift(); "
            "changed = [k for k, v in before.items() if str(matplotlib.rcParams[k]) != str(v)]; "
            "print(changed)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
    assert matplotlib.rcParams["figure.autolayout"] is False

"""varnet-ops score: the paper's table of products against a truth, over the sea and beyond a
coastal band where the region has land.

The ocean here is written by the test: analytic fields on a 0.1 degree truth grid, products
on the 0.2 degree grid of its 2 x 2 blocks, land laid over both (the corner and the island of
``tests/conftest.py``), and the products' error put near the coast only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from varnet.datamodel.grid import Grid
from varnet.operational import cli
from varnet.operational.products import ProductProvenance, write_product
from varnet.operational.scoring import PRODUCTS_ROW, TRUE_GEOSTROPHY, score_products
from varnet.scores import Fields, score_table

REPO = Path(__file__).resolve().parents[2]
START, DAYS = dt.date(2012, 10, 22), 8
FINE_LAT = 36.05 + 0.1 * np.arange(60)
FINE_LON = -60.95 + 0.1 * np.arange(60)
COARSE_LAT = FINE_LAT.reshape(-1, 2).mean(axis=1)
COARSE_LON = FINE_LON.reshape(-1, 2).mean(axis=1)
CROP = 10  # cells of the truth grid in crop_deg = 1 (score_products' default)


def ocean_fields(t, lat, lon):
    """Analytic SSH (m) and currents (m s-1) at day ``t`` on the cell centres (degrees)."""
    y, x = np.meshgrid(lat, lon, indexing="ij")
    ssh = (0.3 + 0.1 * np.sin(2 * np.pi * x / 1.5 - 0.3 * t) * np.cos(2 * np.pi * y / 2.0)
           + 0.05 * np.sin(2 * np.pi * (x + y) / 0.9 + 0.2 * t))
    u = 0.2 * np.cos(2 * np.pi * y / 1.3 + 0.1 * t) * np.sin(2 * np.pi * x / 2.1)
    v = 0.2 * np.sin(2 * np.pi * (x - 0.2 * t) / 1.7) * np.cos(2 * np.pi * y / 2.5)
    mdt = 0.3 + 0.02 * (y - 36.0)
    return ssh, u, v, mdt


def write_truth(path: Path, fine_ocean: np.ndarray) -> Path:
    """A truth file with NaN on land (as a synthetic ocean with a coast writes it)."""
    stacks = {k: [] for k in ("ssh", "u", "v")}
    for t in range(DAYS):
        ssh, u, v, mdt = ocean_fields(t, FINE_LAT, FINE_LON)
        for key, value in zip(stacks, (ssh, u, v), strict=True):
            stacks[key].append(np.where(fine_ocean, value, np.nan))
    fields = {k: np.stack(v) for k, v in stacks.items()}
    fields["mdt"] = np.broadcast_to(np.where(fine_ocean, mdt, np.nan), fields["ssh"].shape)
    fields["sla"] = fields["ssh"] - fields["mdt"]
    fields["ugos"], fields["vgos"] = fields["u"], fields["v"]
    fields["sst"] = np.where(fine_ocean, 290.0, np.nan) + 0.0 * fields["ssh"]
    units = {"ssh": "m", "sla": "m", "mdt": "m", "u": "m s-1", "v": "m s-1", "ugos": "m s-1",
             "vgos": "m s-1", "sst": "K"}
    time = np.array([np.datetime64(START + dt.timedelta(days=t), "ns") + np.timedelta64(12, "h")
                     for t in range(DAYS)])
    xr.Dataset({k: (("time", "lat", "lon"), fields[k], {"units": u}) for k, u in units.items()},
               coords={"time": time, "lat": FINE_LAT, "lon": FINE_LON}).to_netcdf(path)
    return path


def write_products(directory: Path, coarse: Grid, coastal_error: float) -> None:
    """One product a day on the coarse grid: the analytic fields, plus a random error of
    ``coastal_error`` (m, m s-1) on the cells within 25 km of land, NaN on land."""
    rng = np.random.default_rng(3)
    near = coarse.coastal_band(25.0)
    for t in range(DAYS):
        ssh, u, v, mdt = ocean_fields(t, coarse.lat, coarse.lon)
        fields = {"sla": ssh - mdt, "uo": u, "vo": v}
        fields = {k: np.where(near, a + coastal_error * rng.standard_normal(a.shape), a)
                  for k, a in fields.items()}
        day = START + dt.timedelta(days=t)
        write_product(directory, "demo", day, day + dt.timedelta(days=3), coarse.lat,
                      coarse.lon, fields, ProductProvenance("test", "ab" * 32),
                      ocean=None if coarse.open_ocean else coarse.ocean)


@pytest.fixture(scope="module")
def coast(tmp_path_factory, land_mask):
    """Products and truth of a region with land: (products folder, truth file, fine ocean)."""
    folder = tmp_path_factory.mktemp("coast")
    coarse = Grid(COARSE_LAT, COARSE_LON, land_mask.corner_and_island(COARSE_LAT, COARSE_LON))
    fine_ocean = np.kron(coarse.ocean, np.ones((2, 2), dtype=int)).astype(bool)
    write_products(folder / "products", coarse, coastal_error=0.3)
    return folder / "products", write_truth(folder / "truth.nc", fine_ocean), fine_ocean


def _truth_fields(truth_path: Path) -> Fields:
    with xr.open_dataset(truth_path) as ds:
        return Fields(**{k: ds[k].values[:, CROP:-CROP, CROP:-CROP].astype(np.float64)
                         for k in ("ssh", "u", "v")})


def test_with_land_the_products_are_scored_over_the_sea_then_beyond_the_band(coast):
    products, truth_path, fine_ocean = coast
    sea, offshore = score_products(products, "demo", truth_path, START,
                                   START + dt.timedelta(days=DAYS - 1))
    inner = (slice(CROP, -CROP), slice(CROP, -CROP))
    np.testing.assert_array_equal(sea.sea.ocean, fine_ocean[inner])
    far = Grid(FINE_LAT, FINE_LON, fine_ocean).distance_to_land_km() > 20.0
    np.testing.assert_array_equal(offshore.sea.ocean, (fine_ocean & far)[inner])
    assert offshore.sea.suffix == "_offshore_20km" and "20 km coastal band" in \
        offshore.sea.coverage
    # each table scores its own cells of fields derived from all the sea: the truth's row is
    # score_table's with those masks
    np.testing.assert_array_equal(offshore.sea.sea, sea.sea.ocean)
    truth = _truth_fields(truth_path)
    lat, lon = FINE_LAT[inner[0]], FINE_LON[inner[1]]
    for result in (sea, offshore):
        direct = score_table(truth, {TRUE_GEOSTROPHY: Fields(ssh=truth.ssh)}, lat, lon,
                             np.arange(DAYS, dtype=float), ocean=sea.sea.ocean,
                             scored=result.sea.ocean)
        pd.testing.assert_series_equal(result.table.loc[TRUE_GEOSTROPHY],
                                       direct.loc[TRUE_GEOSTROPHY])
    # the products' NaN land did not spread through the interpolation, and their coastal
    # error weighs on the table over all the sea, much less on the one beyond the band
    rows = [result.table.loc[PRODUCTS_ROW] for result in (sea, offshore)]
    for row in rows:
        assert np.isfinite(row[["tau_uv", "tau_vort", "mu_ssh", "lambda_x_u"]]).all()
    assert rows[1]["tau_uv"] > rows[0]["tau_uv"] + 10.0
    assert rows[1]["mu_ssh"] > rows[0]["mu_ssh"]


def test_on_the_open_ocean_there_is_one_table_over_every_cell(tmp_path):
    coarse = Grid(COARSE_LAT, COARSE_LON)
    write_products(tmp_path / "products", coarse, coastal_error=0.0)
    truth_path = write_truth(tmp_path / "truth.nc", np.ones((60, 60), dtype=bool))
    (only,) = score_products(tmp_path / "products", "demo", truth_path, START,
                             START + dt.timedelta(days=DAYS - 1))
    assert only.sea.ocean is None and only.sea.coverage == ""
    truth = _truth_fields(truth_path)
    direct = score_table(truth, {TRUE_GEOSTROPHY: Fields(ssh=truth.ssh)},
                         FINE_LAT[CROP:-CROP], FINE_LON[CROP:-CROP],
                         np.arange(DAYS, dtype=float))
    pd.testing.assert_series_equal(only.table.loc[TRUE_GEOSTROPHY], direct.loc[TRUE_GEOSTROPHY])


def _config(tmp_path: Path, products: Path) -> Path:
    text = (REPO / "configs" / "ops-demo.toml").read_text()
    text = text.replace('"../models/demo/demo.onnx"', f'"{REPO}/models/demo/demo.onnx"')
    text = text.replace('"demo-region-sftof.nc"', f'"{REPO}/configs/demo-region-sftof.nc"')
    text = text.replace('"../demo-output/ops/products"', f'"{products}"')
    text = text.replace('"../demo-output/ops/', f'"{tmp_path}/')
    text = text.replace("create_missing = false", "create_missing = true")
    path = tmp_path / "ops.toml"
    path.write_text(text)
    return path


def test_the_score_command_prints_and_writes_both_tables(coast, tmp_path):
    products, truth_path, _ = coast
    config = _config(tmp_path, products)
    reference = tmp_path / "scores.csv"
    pd.DataFrame({"tau_uv": [11.5]}, index=pd.Index(["4DVarNet SSH"], name="method")
                 ).to_csv(reference)
    pd.DataFrame({"tau_uv": [22.5]}, index=pd.Index(["4DVarNet SSH"], name="method")
                 ).to_csv(tmp_path / "scores_offshore_20km.csv")
    args = ["score", "--config", str(config), "--truth", str(truth_path), "--start",
            str(START), "--end", str(START + dt.timedelta(days=DAYS - 1))]
    out = tmp_path / "products.csv"
    result = CliRunner().invoke(cli.main, [*args, "--reference", str(reference), "--out",
                                           str(out)])
    assert result.exit_code == 0, result.output
    sea_text, offshore_text = result.output.split("farther than 20 km from land")
    assert "Scored over all" in sea_text and "| 11.5 |" in sea_text
    assert "| 22.5 |" in offshore_text and "| 11.5 |" not in offshore_text
    for path in (out, tmp_path / "products_offshore_20km.csv"):
        assert PRODUCTS_ROW in pd.read_csv(path, index_col=0).index
    result = CliRunner().invoke(cli.main, [*args, "--coastal-band-km", "0", "--out",
                                           str(tmp_path / "only.csv")])
    assert result.exit_code == 0, result.output
    assert "coastal band" not in result.output
    assert sorted(p.name for p in tmp_path.glob("only*")) == ["only.csv"]

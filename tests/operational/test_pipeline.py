"""The daily product from archived files: CF file, parity with PyTorch, gaps, failures, model
mismatch.

Also the shared helpers of ``test_runs.py`` and ``test_daemon.py``: the tiny exported model
(committed in ``tests/data/ops-model/``, on the tiny ocean's coarsened grid), operations
configurations around it, and the tiny ocean's files by data day.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from varnet.config import ConfigError, dump_toml
from varnet.datamodel.grid import block_mean
from varnet.io.missions import platform_name
from varnet.io.names import parse_alongtrack_filename, parse_ghrsst_filename
from varnet.io.readers import read_truth
from varnet.operational.cli import main
from varnet.operational.config import OpsConfig, load_ops_config
from varnet.operational.ingest import ingest
from varnet.operational.ledger import Ledger, config_region_key, product_file_region
from varnet.operational.mdt import mdt_from_cells
from varnet.operational.pipeline import Producer, build_inputs, model_oi_config
from varnet.operational.products import (
    PRODUCT_VARIABLES,
    file_sha256,
    latest_filename,
    product_digest,
    product_filename,
    product_variables,
    read_product,
)
from varnet.runtime.metadata import ModelMismatch

#: Product day of this module's products, and the production day they are issued on.
DAY = dt.date(2012, 10, 15)
PRODUCTION = dt.date(2012, 10, 25)
#: The model grid: the tiny ocean's 64 x 64 cells at 0.1 degree (centres from 34.85 N,
#: 63.15 W) coarsened by 2, i.e. 32 x 32 cells at 0.2 degree centred from 34.9 N, 63.1 W.
REGION = {"lat_min": 34.9, "lon_min": -63.1, "resolution_deg": 0.2, "nlat": 32, "nlon": 32}
#: A cron schedule that does not fire while a test runs (00:00 UTC on January 1st).
NEVER = "0 0 1 1 *"
NAME = "tiny"


# --------------------------------------------------------------------------------------------
# shared helpers (imported by test_runs.py and test_daemon.py)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last`` inclusive."""
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


@dataclass(frozen=True)
class TinyModel:
    """The exported tiny model: its ONNX file and the checkpoint it was exported from."""

    onnx: Path
    checkpoint: Path


#: The tiny model committed for these tests, built by tests/data/build_ops_model.py (torch).
MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "ops-model"


def exported_model(tmp_path_factory: pytest.TempPathFactory, ocean_dir: Path) -> TinyModel:
    """The committed tiny 4DVarNet (SSH + SST) on the tiny ocean's grid coarsened by 2.

    ``tests/data/ops-model/``: exported to ONNX with :mod:`varnet.export.graph` by
    ``tests/data/build_ops_model.py``, with its checkpoint (read by the PyTorch parity test
    only); ``tests/operational/test_ops_model.py`` checks them against their recorded
    checksums and that they fit ``ocean_dir``'s grid. No torch is needed: the operations host's
    environment makes products with this model too. The files are copied once per session
    under the session's base temporary folder, which every caller shares.
    """
    folder = tmp_path_factory.getbasetemp() / "ops-tiny-model"
    model = TinyModel(folder / "tiny.onnx", folder / "tiny.pt")
    if not model.onnx.is_file():
        folder.mkdir(exist_ok=True)
        shutil.copy(MODEL_DIR / model.checkpoint.name, model.checkpoint)
        shutil.copy(MODEL_DIR / model.onnx.name, folder / "tiny.onnx.part")
        (folder / "tiny.onnx.part").rename(model.onnx)
    return model


@dataclass(frozen=True)
class Ops:
    """One operations set-up: a configuration file and its folders."""

    root: Path
    toml: Path
    config: OpsConfig

    def ledger(self) -> Ledger:
        """A new connection to the ledger (close it, e.g. ``with ops.ledger() as ledger``)."""
        return Ledger.for_config(self.config)

    @property
    def inbox(self) -> Path:
        return Path(self.config.paths.inbox)

    @property
    def products(self) -> Path:
        return Path(self.config.paths.products)

    def deliver(self, files: list[Path], subfolder: str = "") -> None:
        """Copy observation files into the inbox."""
        folder = self.inbox / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy(path, folder / path.name)

    def product_files(self) -> list[Path]:
        """The product files (not temporaries, not the ``latest/`` links)."""
        return sorted(self.products.glob(f"{NAME}_varnet_phy_l4_*.nc"))

    def product_path(self, day: dt.date, production_day: dt.date) -> Path:
        return self.products / product_filename(NAME, day, production_day)

    def latest_link(self, day: dt.date) -> Path:
        return self.products / "latest" / latest_filename(NAME, day)

    def temporaries(self) -> list[Path]:
        """Temporary files left in the product folder or ``latest/``."""
        return sorted(self.products.rglob(".*.tmp")) if self.products.exists() else []


def make_ops(root: Path, model: TinyModel, *, region: dict | None = None,
             archive: Path | None = None, **production: object) -> Ops:
    """Write an operations configuration under ``root`` (inbox, archive... inside it).

    ``region`` overrides keys of :data:`REGION`; ``archive`` shares another set-up's archive;
    ``production`` overrides ``[production]`` (lag 1 day, re-issue 3 days by default).
    """
    paths = {key: str(root / key) for key in ("inbox", "archive", "quarantine", "products",
                                              "state")}
    if archive is not None:
        paths["archive"] = str(archive)
    mapping = {
        "name": NAME,
        "region": {**REGION, **(region or {})},
        "model": {"path": str(model.onnx), "provider": "cpu", "threads": 1, "batch_size": 1},
        "paths": paths,
        "schedule": {"cron": NEVER, "misfire_grace_minutes": 1},
        "production": {"lag_days": 1, "reissue_days": 3, "workers": 1, **production},
    }
    from varnet.operational.config import create_folders

    root.mkdir(parents=True, exist_ok=True)
    toml = root / "ops.toml"
    toml.write_text(dump_toml(mapping))
    config = load_ops_config(toml)
    create_folders(config)  # the five folders, as `varnet-ops init` makes them
    return Ops(root, toml, config)


def share_archive(source: Ops, root: Path, model: TinyModel, **production: object) -> Ops:
    """A new set-up reading ``source``'s archive, with a copy of its ledger (its inputs and
    whatever else it holds) and its own products and state; ``production`` as in
    :func:`make_ops`."""
    ops = make_ops(root, model, archive=Path(source.config.paths.archive), **production)
    target = ops.config.paths.ledger_file
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source.config.paths.ledger_file)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return ops


def alongtrack_files(ocean_dir: Path, first: dt.date, last: dt.date,
                     skip: tuple[dt.date, ...] = ()) -> list[Path]:
    """The tiny ocean's along-track files of data days ``first`` to ``last``, but ``skip``."""
    return sorted(p for p in (ocean_dir / "alongtrack").glob("*.nc")
                  if first <= (day := parse_alongtrack_filename(p.name).day) <= last
                  and day not in skip)


def sst_files(ocean_dir: Path, first: dt.date, last: dt.date) -> list[Path]:
    """The tiny ocean's L4 SST files of days ``first`` to ``last``."""
    return sorted(p for p in (ocean_dir / "sst" / "l4").glob("*.nc")
                  if first <= parse_ghrsst_filename(p.name).day <= last)


def window_files(ocean_dir: Path, day: dt.date) -> list[Path]:
    """Every file the product of ``day`` reads with the tiny model (window of 3 days, OI reach
    of 7 days on either side)."""
    return (alongtrack_files(ocean_dir, day - dt.timedelta(8), day + dt.timedelta(8))
            + sst_files(ocean_dir, day - dt.timedelta(1), day + dt.timedelta(1)))


def open_product(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_ocean) -> TinyModel:
    return exported_model(tmp_path_factory, tiny_ocean.out_dir)


def _bad_files(folder: Path, ocean_dir: Path) -> dict[str, Path]:
    """A truncated along-track file, one whose SLA is in m s-1 (not a length: centimetres
    would be converted) and an SST in degF, all of DAY."""
    folder.mkdir(parents=True, exist_ok=True)
    (tpn,) = [p for p in alongtrack_files(ocean_dir, DAY, DAY) if "_tpn_" in p.name]
    data = tpn.read_bytes()
    truncated = folder / tpn.name.replace("_tpn_", "_s3a_")
    truncated.write_bytes(data[: len(data) // 2])
    speed = folder / tpn.name.replace("_tpn_", "_c2_")
    shutil.copy(tpn, speed)
    with netCDF4.Dataset(speed, "a") as ds:
        ds.variables["sla_filtered"].setncattr("units", "m s-1")
    (sst,) = sst_files(ocean_dir, DAY, DAY)
    fahrenheit = folder / "20121015120000-OTHER-L4_GHRSST-SSTfnd-TEST-v02.0-fv01.0.nc"
    shutil.copy(sst, fahrenheit)
    with netCDF4.Dataset(fahrenheit, "a") as ds:
        ds.variables["analysed_sst"].setncattr("units", "degF")
    return {"truncated": truncated, "speed": speed, "degF": fahrenheit}


@dataclass(frozen=True)
class Made:
    ops: Ops
    report: object
    bad: dict[str, Path]
    result: object


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_ocean, model) -> Made:
    """The product of DAY, made from its window's files with three bad files among them."""
    ops = make_ops(tmp_path_factory.mktemp("pipeline"), model)
    ops.deliver(window_files(tiny_ocean.out_dir, DAY))
    bad = _bad_files(ops.inbox / "late", tiny_ocean.out_dir)
    report = ingest(ops.config)
    result = Producer(ops.config).make(DAY, PRODUCTION, final=True)
    return Made(ops, report, bad, result)


# --------------------------------------------------------------------------------------------
# one product


def test_bad_inputs_are_quarantined_and_the_day_is_made_from_the_good_ones(made, tiny_ocean):
    outcomes = {o.name: o for o in made.report.outcomes}
    expected = {"truncated": "truncated", "speed": "units 'm s-1'", "degF": "units 'degF'"}
    for key, path in made.bad.items():
        outcome = outcomes[path.name]
        assert outcome.action == "quarantined", outcome
        assert expected[key] in outcome.reason
        assert outcome.destination.is_file()
        assert Path(made.ops.config.paths.quarantine) in outcome.destination.parents
    good = window_files(tiny_ocean.out_dir, DAY)
    assert all(outcomes[p.name].action == "archived" for p in good)
    assert made.result.status == "final", made.result.error
    with made.ops.ledger() as ledger:
        record = ledger.product(DAY, PRODUCTION)
    assert record.status == "final" and record.path == str(made.result.path)
    used = {ref["name"] for ref in record.inputs_used}
    assert used == {p.name for p in good}  # every good file of the window, no bad one
    # recorded before the quicklook is drawn (the result's timings have it too)
    assert set(record.timings) >= {"read", "grid", "infer", "stitch", "derive", "write"}
    assert set(made.result.timings) >= {*record.timings, "quicklook"}


def test_the_product_is_cf_compliant_with_units_and_its_day(made, cf_failures):
    path = made.result.path
    assert path == made.ops.product_path(DAY, PRODUCTION)
    ds = open_product(path)
    assert ds["time"].values[0] == np.datetime64(DAY.isoformat(), "ns")
    # the tiny ocean's along-track files carry the MDT: the product has every variable
    assert [n for n in ds.data_vars if n in PRODUCT_VARIABLES] == list(PRODUCT_VARIABLES)
    units = {name: ds[name].attrs["units"] for name in PRODUCT_VARIABLES}
    assert units["sla"] == units["adt"] == "m"
    assert units["uo"] == units["vo"] == units["ugos"] == units["vgos"] == "m/s"
    assert units["ugosa"] == units["vgosa"] == "m/s"
    assert units["vorticity"] == units["divergence"] == units["strain"] == "s-1"
    assert ds["latitude"].attrs["units"] == "degrees_north"
    assert ds.attrs["processing_status"] == "final"
    assert ds.attrs["product_day"] == str(DAY) and ds.attrs["production_day"] == str(PRODUCTION)
    assert ds.attrs["days_without_observations"] == ""
    assert int(ds.attrs["product_format_version"]) == 2
    assert np.isfinite(ds["sla"].values).all() and np.isfinite(ds["adt"].values).all()
    np.testing.assert_allclose(ds["latitude"].values, 34.9 + 0.2 * np.arange(32), atol=1e-9)
    assert made.ops.latest_link(DAY).resolve() == path.resolve()
    assert path.with_suffix(".png").is_file()
    assert cf_failures(path) == []


def test_the_platforms_are_exactly_the_missions_of_the_inputs_used(made, tiny_ocean):
    """The truncated Sentinel-3A and the CryoSat-2 file in m s-1 were quarantined: the
    product names the four missions of the files it was made from, as DUACS platform names."""
    with made.ops.ledger() as ledger:
        record = ledger.product(DAY, PRODUCTION)
    missions = {parse_alongtrack_filename(ref["name"]).mission for ref in record.inputs_used
                if "_phy_l3_" in ref["name"]}
    assert missions == {"tpn", "j1", "en", "g2"}  # not s3a, not c2
    expected = ", ".join(sorted((platform_name(m) for m in missions), key=str.lower))
    assert expected == "Envisat, Geosat Follow-On, Jason-1, TOPEX/Poseidon Interleaved"
    assert open_product(made.result.path).attrs["platform"] == expected


def test_the_mdt_comes_from_the_along_track_inputs(made, tiny_ocean):
    """Without an MDT file the product's MDT is the along-track estimate of its inputs:
    adt - sla is that estimate (to float32 round-off) and close to the true MDT (tolerances of
    tests/operational/test_mdt.py); ugos - ugosa is its geostrophy."""
    producer = Producer(made.ops.config)
    assert producer.mdt is None
    with made.ops.ledger() as ledger:
        inputs = build_inputs(ledger, producer.grid, producer.model.metadata, DAY)
    estimate = mdt_from_cells(inputs.track_mdt, producer.grid.lat, producer.grid.lon).values
    ds = read_product(made.result.path)
    source = ds.attrs["mdt_source"]
    n_files = sum(r.kind == "alongtrack" for r in inputs.files)
    assert source.startswith(f"along-track mdt of the {n_files} along-track input files: ")
    sla = ds["sla"].values[0].astype(np.float64)
    adt = ds["adt"].values[0].astype(np.float64)
    tol = np.finfo(np.float32).eps * (np.abs(adt).max() + np.abs(sla).max())
    np.testing.assert_allclose(adt - sla, estimate, rtol=0, atol=tol)
    with read_truth(tiny_ocean.out_dir / "truth.nc") as truth:
        true = block_mean(truth["mdt"].values, 2)
    error = (adt - sla) - true
    assert np.sqrt(np.mean(error**2)) < 1.5e-3 and np.abs(error).max() < 0.025
    from varnet.operational.derived import derive_fields

    zero = np.zeros_like(estimate)
    geo = derive_fields(estimate, zero, zero, producer.grid.lat, producer.grid.lon)
    for absolute, anomaly in (("ugos", "ugosa"), ("vgos", "vgosa")):
        a = ds[absolute].values[0].astype(np.float64)
        b = ds[anomaly].values[0].astype(np.float64)
        tol = np.finfo(np.float32).eps * (np.nanmax(np.abs(a)) + np.nanmax(np.abs(b)))
        np.testing.assert_allclose(a - b, geo[anomaly], rtol=0, atol=tol, err_msg=absolute)


def test_a_configured_mdt_file_and_inputs_without_mdt(tmp_path, tiny_ocean, model, made,
                                                      cf_failures):
    """production.mdt (here the tiny ocean's truth.nc, which has mdt(lat, lon) in m) is the
    product's MDT; along-track files without ``mdt`` and no file give a product without adt,
    ugos, vgos that says so. Both are CF-1.8 clean."""
    ocean = tiny_ocean.out_dir
    mdt_path = Path(shutil.copy(ocean / "truth.nc", tmp_path / "mdt.nc"))
    ops = share_archive(made.ops, tmp_path / "file", model, mdt=str(mdt_path))  # same inputs
    producer = Producer(ops.config)
    assert producer.mdt is not None
    # the shared ledger holds the day's final product, made with the inputs' MDT: re-made
    result = producer.make(DAY, PRODUCTION, final=True, force=True)
    assert result.status == "final", result.error
    ds = read_product(result.path)
    assert ds.attrs["mdt_source"].startswith(
        f"file mdt.nc (sha256 {file_sha256(mdt_path)}), variable mdt interpolated "
        "bilinearly")
    with read_truth(ocean / "truth.nc") as truth:
        true = block_mean(truth["mdt"].values, 2)
    sla = ds["sla"].values[0].astype(np.float64)
    adt = ds["adt"].values[0].astype(np.float64)
    tol = np.finfo(np.float32).eps * (np.abs(adt).max() + np.abs(sla).max())
    np.testing.assert_allclose(adt - sla, true, rtol=0, atol=tol + 1e-6)
    # the SLA and its currents do not depend on where the MDT came from
    along = read_product(made.result.path)
    for name in product_variables(absolute=False):
        np.testing.assert_array_equal(ds[name].values, along[name].values, err_msg=name)
    assert cf_failures(result.path) == []

    # along-track files whose mdt is gone (renamed), no MDT file: no absolute fields
    bare = make_ops(tmp_path / "bare", model)
    folder = tmp_path / "no-mdt"
    folder.mkdir()
    for path in window_files(ocean, DAY):
        copy = Path(shutil.copy(path, folder / path.name))
        if "_phy_l3_" in path.name:
            with netCDF4.Dataset(copy, "a") as nc:
                nc.renameVariable("mdt", "mdt_withheld")
    bare.deliver(sorted(folder.glob("*.nc")))
    assert not ingest(bare.config).quarantined
    result = Producer(bare.config).make(DAY, PRODUCTION, final=True)
    assert result.status == "final", result.error
    ds = read_product(result.path)
    assert not {"adt", "ugos", "vgos"} & set(ds.variables)
    assert ds.attrs["mdt_source"].startswith("none: ")
    for name in product_variables(absolute=False):
        np.testing.assert_array_equal(ds[name].values, along[name].values, err_msg=name)
    assert cf_failures(result.path) == []
    assert result.path.with_suffix(".png").is_file()


def test_a_bad_mdt_file_is_refused_when_the_producer_starts(tmp_path, model):
    bad = tmp_path / "mdt.nc"
    with netCDF4.Dataset(bad, "w") as nc:
        nc.createDimension("lat", 3)
        nc.createDimension("lon", 3)
        nc.createVariable("lat", "f8", ("lat",))[:] = [0.0, 1.0, 2.0]
        nc.createVariable("lon", "f8", ("lon",))[:] = [0.0, 1.0, 2.0]
        var = nc.createVariable("mdt", "f4", ("lat", "lon"))
        var.units = "m"
        var[:] = np.zeros((3, 3))
    ops = make_ops(tmp_path / "ops", model, mdt=str(bad))
    with pytest.raises(ConfigError, match=r"production.mdt: MDT file .*mdt.nc: does not cover "
                       "the product region"):
        Producer(ops.config)


@pytest.fixture(scope="module")
def prepared(made, tiny_ocean, tmp_path_factory) -> xr.Dataset:
    """Training's inputs of DAY's window (:func:`varnet.training.prepare.prepare_arrays`, no
    torch) with the model's coarsening and OI parameters, as the model's training saw them."""
    from varnet.training.prepare import prepare_arrays

    metadata = Producer(made.ops.config).model.metadata
    window = days(DAY - dt.timedelta(1), DAY + dt.timedelta(1))
    return prepare_arrays(tiny_ocean.out_dir, metadata.config["data"]["coarsen"], window[0],
                          window[-1], model_oi_config(metadata),
                          cache_dir=tmp_path_factory.mktemp("prepared"), progress=False)


def model_inputs(prepared: xr.Dataset) -> dict[str, np.ndarray]:
    """The prepared window as the model's inputs: (1, days, lat, lon) float32."""
    return {name: prepared[name].values[None].astype(np.float32)
            for name in ("oi", "obs", "sst")}


def check_product_is(product_path: Path, outputs: list[np.ndarray], what: str) -> None:
    """The product's ``sla``, ``uo``, ``vo`` are the window's middle day of ``outputs``
    (ssh, u, v) to 1e-5."""
    product = open_product(product_path)
    for name, expected in zip(("sla", "uo", "vo"), outputs, strict=True):
        error = float(np.max(np.abs(product[name].values[0] - expected[0, 1])))
        assert error < 1e-5, f"{name}: max |ONNX Runtime product - {what}| = {error:.2e}"


def test_operations_grid_their_inputs_exactly_as_training_prepares_them(made, prepared):
    producer = Producer(made.ops.config)
    with made.ops.ledger() as ledger:
        inputs = build_inputs(ledger, producer.grid, producer.model.metadata, DAY)
    assert inputs.days == days(DAY - dt.timedelta(1), DAY + dt.timedelta(1))
    for name in ("oi", "obs", "sst"):
        np.testing.assert_allclose(inputs.fields[name], prepared[name].values, rtol=0,
                                   atol=1e-6, err_msg=name)  # NaN where the other has NaN


def test_the_product_is_the_onnx_reference_evaluator_on_the_training_inputs(made, model,
                                                                            prepared):
    """An independent reference without torch: the ONNX specification's own numpy
    implementation (``onnx.reference``) runs the model on training's inputs."""
    from onnx.reference import ReferenceEvaluator

    outputs = ReferenceEvaluator(str(model.onnx)).run(None, model_inputs(prepared))
    assert [o.shape for o in outputs] == [(1, 3, 32, 32)] * 3
    check_product_is(made.result.path, outputs, "onnx.reference")


@pytest.mark.torch
def test_the_product_is_the_pytorch_model_on_the_training_inputs(made, model, prepared):
    """ONNX Runtime gives the PyTorch model's output, on the inputs training prepares."""
    torch = pytest.importorskip("torch")
    from varnet.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(model.checkpoint)
    metadata = Producer(made.ops.config).model.metadata
    assert model_oi_config(metadata) == loaded.config.data.oi
    assert metadata.config["data"]["coarsen"] == loaded.config.data.coarsen
    with torch.no_grad():
        outputs = loaded.model(*(torch.from_numpy(a) for a in model_inputs(prepared).values()))
    check_product_is(made.result.path, [o.numpy() for o in outputs], "PyTorch")


def test_making_a_product_imports_no_torch(made, model, tiny_ocean, tmp_path):
    """An operations host has no torch: ingest and the whole product chain run without
    importing it (the product is the one of :func:`made`)."""
    ops = make_ops(tmp_path / "ops", model)
    ops.deliver(window_files(tiny_ocean.out_dir, DAY))
    code = ("import datetime as dt, sys\n"
            "from varnet.operational.config import load_ops_config\n"
            "from varnet.operational.ingest import ingest\n"
            "from varnet.operational.pipeline import Producer\n"
            "config = load_ops_config(sys.argv[1])\n"
            "assert ingest(config).archived\n"
            "result = Producer(config).make(\n"
            "    dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3]),\n"
            "    final=True)\n"
            "assert result.status == 'final', result.error\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    done = subprocess.run([sys.executable, "-c", code, str(ops.toml), DAY.isoformat(),
                           PRODUCTION.isoformat()], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    (path,) = ops.product_files()
    assert path.name == made.result.path.name
    assert product_digest(path) == product_digest(made.result.path)


@pytest.mark.parametrize("region, minimum", [({"lat_min": 34.9 - 44.8}, 1), ({}, 10**7)])
def test_a_window_without_enough_observations_in_the_region_fails_never_a_model_only_product(
        tmp_path, tiny_ocean, model, region, minimum):
    """The same cells moved 44.8 degrees south, where no satellite of the tiny ocean passes,
    or a minimum above what the window holds: the day fails with the reason."""
    ocean = tiny_ocean.out_dir
    ops = make_ops(tmp_path, model, region=region, min_observations=minimum)
    ops.deliver(alongtrack_files(ocean, dt.date(2012, 10, 7), dt.date(2012, 10, 24)))
    assert ingest(ops.config).archived
    result = Producer(ops.config).make(DAY, PRODUCTION, final=True)
    assert result.status == "failed" and result.path is None
    assert "along-track point(s) over the sea of the region" in result.error
    assert f"fewer than production.min_observations = {minimum}" in result.error
    if minimum == 1:
        assert ": 0 along-track point(s)" in result.error
    with ops.ledger() as ledger:
        assert ledger.latest_product(DAY) is None
    assert ops.product_files() == []


def test_a_changed_region_under_the_same_name_is_refused(tmp_path, tiny_ocean, model):
    """Product files are named after the configuration's name: a region moved under the same
    name would overwrite the other region's finals."""
    ops = make_ops(tmp_path, model)
    ops.deliver(window_files(tiny_ocean.out_dir, DAY))
    assert ingest(ops.config).archived
    assert Producer(ops.config).make(DAY, PRODUCTION, final=True).status == "final"
    moved = make_ops(tmp_path, model, region={"lat_min": 35.1})  # same folders, 1 cell north
    with pytest.raises(ConfigError, match=r"1 product\(s\) of another region under the "
                       r"name 'tiny'; a changed region needs a name of its own"):
        Producer(moved.config)
    renamed = moved.toml.read_text().replace('name = "tiny"', 'name = "tiny-north"')
    assert renamed != moved.toml.read_text()
    moved.toml.write_text(renamed)
    assert Producer(load_ops_config(moved.toml)).config.name == "tiny-north"


def test_missing_days_are_listed_and_a_day_without_altimetry_fails(tmp_path, tiny_ocean,
                                                                   model):
    ocean = tiny_ocean.out_dir
    ops = make_ops(tmp_path, model)
    gap = (dt.date(2012, 10, 14),)
    outage = (dt.date(2012, 10, 19), dt.date(2012, 10, 20), dt.date(2012, 10, 21))
    ops.deliver(alongtrack_files(ocean, dt.date(2012, 10, 7), dt.date(2012, 10, 24),
                                 skip=gap + outage))
    ops.deliver(sst_files(ocean, dt.date(2012, 10, 14), dt.date(2012, 10, 21)))
    assert not ingest(ops.config).quarantined
    producer = Producer(ops.config)

    gappy = producer.make(DAY, PRODUCTION, final=False)
    assert gappy.status == "ok", gappy.error
    ds = open_product(gappy.path)
    assert ds.attrs["days_without_observations"] == "2012-10-14"
    assert ds.attrs["processing_status"] == "preliminary"
    lines = ds.attrs["observations_in_region"].splitlines()
    assert [line.split(":")[0] for line in lines] == [str(d) for d in days(
        DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1))]
    points = {line.split(":")[0]: int(line.split()[1]) for line in lines}
    assert points["2012-10-14"] == 0 and points["2012-10-15"] > 0 and points["2012-10-16"] > 0
    assert all(line.endswith("SST on 100.0 % of cells") for line in lines)

    blind = dt.date(2012, 10, 20)  # window 19..21: no along-track file at all
    failed = producer.make(blind, PRODUCTION, final=False)
    assert failed.status == "failed" and failed.path is None
    assert "no along-track file for any day of its window" in failed.error
    assert "2012-10-19 to 2012-10-21" in failed.error
    with ops.ledger() as ledger:
        record = ledger.product(blind, PRODUCTION)
        assert record.status == "failed" and record.path is None
        assert record.error.startswith("NoInputError: ")
        assert ledger.latest_product(blind) is None
        assert ledger.claims() == []
    assert ops.product_files() == [gappy.path]
    assert not ops.latest_link(blind).exists() and not ops.latest_link(blind).is_symlink()
    assert ops.temporaries() == []


def test_a_quicklook_that_cannot_be_drawn_never_fails_the_product(tmp_path, tiny_ocean, model,
                                                                   monkeypatch, caplog):
    ops = make_ops(tmp_path, model)
    ops.deliver(window_files(tiny_ocean.out_dir, DAY))
    ingest(ops.config)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no font cache (read-only home)")

    monkeypatch.setattr("varnet.operational.pipeline.write_quicklook", broken)
    with caplog.at_level("WARNING", logger="varnet.ops.product"):
        result = Producer(ops.config).make(DAY, PRODUCTION, final=True)
    assert result.status == "final", result.error
    assert result.path.is_file() and not result.path.with_suffix(".png").exists()
    assert open_product(result.path)["sla"].notnull().any()
    assert f"quicklook of {result.path.name} not drawn (the product itself is fine): " \
           "RuntimeError: no font cache" in caplog.text
    with ops.ledger() as ledger:
        assert ledger.latest_product(DAY).status == "final"
    assert ops.temporaries() == []


# --------------------------------------------------------------------------------------------
# a model that does not fit the configuration


@pytest.mark.parametrize(("region", "field"), [
    ({"resolution_deg": 0.1, "nlat": 64, "nlon": 64}, "grid.resolution_deg"),
    ({"lat_min": 34.95}, "grid.lat0"),
    ({"lon_min": -63.0}, "grid.lon0"),
])
def test_a_model_that_does_not_fit_is_refused_naming_the_field(tmp_path, model, region, field):
    ops = make_ops(tmp_path, model, region=region)
    with pytest.raises(ModelMismatch) as caught:
        Producer(ops.config)
    assert caught.value.field == field and f"'{field}'" in str(caught.value)
    result = CliRunner().invoke(main, ["run", "--config", str(ops.toml), "--day", "2012-10-20",
                                       "--quiet"])
    assert result.exit_code == 2, result.output
    assert "model refused" in result.stderr and field in result.stderr
    assert not ops.products.exists() or ops.product_files() == []


# --------------------------------------------------------------------------------------------
# the data model: a model without a signature, land


def _product_fields(path: Path) -> dict[str, np.ndarray]:
    ds = open_product(path)
    return {name: ds[name].values for name in ds.data_vars if name != "crs"}


def test_a_model_exported_before_signatures_makes_the_same_product(made, tmp_path, model):
    import json

    import onnx

    from varnet.runtime.metadata import METADATA_KEY

    proto = onnx.load(model.onnx)
    props = {p.key: p for p in proto.metadata_props}
    document = json.loads(props[METADATA_KEY].value)
    assert document.pop("signature")["outputs"][0]["variable"] == "sla"
    props[METADATA_KEY].value = json.dumps(document, sort_keys=True)
    old = TinyModel(tmp_path / "old.onnx", model.checkpoint)
    onnx.save(proto, old.onnx)
    ops = share_archive(made.ops, tmp_path / "old", old)
    result = Producer(ops.config).make(DAY, PRODUCTION, final=True, force=True)
    assert result.status == "final", result.error
    before, after = _product_fields(made.result.path), _product_fields(result.path)
    assert before.keys() == after.keys()
    for name, values in before.items():
        np.testing.assert_array_equal(after[name], values, err_msg=name)


@pytest.mark.parametrize("land", [True, False], ids=["corner-and-island", "all-sea"])
def test_a_land_mask_reaches_the_product_and_an_all_sea_mask_changes_nothing(
        made, tmp_path, model, land_mask, land):
    grid = made.ops.config.grid()
    ocean = (land_mask.corner_and_island(grid.lat, grid.lon) if land
             else np.ones(grid.shape, dtype=bool))
    mask = land_mask.write_ocean_mask(tmp_path / "mask.nc", grid.lat, grid.lon, ocean)
    ops = share_archive(made.ops, tmp_path / "ops", model)
    toml = ops.toml.read_text().replace("[region]\n", f'[region]\nocean_mask = "{mask}"\n')
    ops.toml.write_text(toml)
    config = load_ops_config(ops.toml)
    assert (config.grid().ocean == ocean).all()
    if land:  # another region than the open one under the same name: refused, then alone
        with pytest.raises(ConfigError, match="another region"):
            Producer(config)
        with ops.ledger() as ledger, ledger.transaction() as conn:
            conn.execute("DELETE FROM products")
    result = Producer(config).make(DAY, PRODUCTION, final=True, force=True)
    assert (product_file_region(result.path) == config_region_key(config)) and (
        (config_region_key(config) != config_region_key(made.ops.config)) is land)
    assert result.status == "final", result.error
    fields = _product_fields(result.path)
    np.testing.assert_array_equal(fields.pop("sftof"), np.where(ocean, 100.0, 0.0))
    if not land:  # the open ocean: every field as without a mask, bit for bit
        reference = _product_fields(made.result.path)
        reference.pop("sftof")
        assert fields.keys() == reference.keys()
        for name, values in reference.items():
            np.testing.assert_array_equal(fields[name], values, err_msg=name)
        return
    with netCDF4.Dataset(result.path) as ds:
        ds.set_auto_mask(False)
        written = [name for name in PRODUCT_VARIABLES if name in fields]
        assert {"sla", "uo", "vo", "ugosa", "vorticity_f"} <= set(written)
        for name in written:
            raw = ds.variables[name][0]
            fill = ds.variables[name].getncattr("_FillValue")
            assert (raw[~ocean] == fill).all(), f"{name} has values on land"
            assert (raw[ocean] != fill).all() or name in ("adt", "ugos", "vgos"), name
    for name in ("sla", "uo", "vo", "ugosa", "vorticity"):
        assert np.isfinite(fields[name][0][ocean]).all(), f"{name} has gaps on the sea"
    assert result.path.with_suffix(".png").is_file()


def test_a_fourth_output_declared_in_the_signature_and_the_catalogue_is_written(
        made, tmp_path, model, monkeypatch):
    """What adding an output variable touches: one catalogue entry, one signature output."""
    import json

    import onnx

    from varnet.datamodel.variables import VARIABLES, Variable
    from varnet.runtime.metadata import METADATA_KEY

    monkeypatch.setitem(VARIABLES, "sla_error", Variable(
        "sla_error", "m", "Sea level anomaly error estimate", "test output: |sla|"))
    proto = onnx.load(model.onnx)
    proto.graph.node.append(onnx.helper.make_node("Abs", ["ssh"], ["err"]))
    ssh_type = next(o for o in proto.graph.output if o.name == "ssh").type
    proto.graph.output.append(onnx.helper.make_value_info("err", ssh_type))
    props = {p.key: p for p in proto.metadata_props}
    document = json.loads(props[METADATA_KEY].value)
    document["outputs"].append({"name": "err", "units": "m", "description": "|ssh|"})
    document["signature"]["outputs"].append(
        {"name": "err", "variable": "sla_error", "units": "m", "description": "|ssh|"})
    props[METADATA_KEY].value = json.dumps(document, sort_keys=True)
    four = TinyModel(tmp_path / "four.onnx", model.checkpoint)
    onnx.save(proto, four.onnx)
    ops = share_archive(made.ops, tmp_path / "four", four)
    result = Producer(ops.config).make(DAY, PRODUCTION, final=True, force=True)
    assert result.status == "final", result.error
    ds = open_product(result.path)
    np.testing.assert_array_equal(ds["sla_error"].values, np.abs(ds["sla"].values))
    assert ds["sla_error"].attrs["long_name"] == "Sea level anomaly error estimate"
    reference = open_product(made.result.path)
    for name in PRODUCT_VARIABLES:
        if name in reference:
            np.testing.assert_array_equal(ds[name].values, reference[name].values, name)

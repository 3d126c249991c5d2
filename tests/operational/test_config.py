"""The operations configuration: loading, path resolution, and errors naming the key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from varnet.config import ConfigError, dump_toml, load_toml, to_mapping
from varnet.operational.config import OpsConfig, load_ops_config

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "ops-demo.toml"

MINIMAL = {
    "name": "test-region",
    "region": {"lat_min": 30.05, "lon_min": -60.95, "resolution_deg": 0.1, "nlat": 20,
               "nlon": 30},
    "model": {"path": "model.onnx"},
    "paths": {"inbox": "ops/inbox", "archive": "ops/archive", "quarantine": "ops/quarantine",
              "products": "ops/products", "state": "ops/state"},
}


def _write(tmp_path: Path, mapping: dict, name: str = "ops.toml") -> Path:
    path = tmp_path / name
    path.write_text(dump_toml(mapping))
    return path


def _with(key: str, value: object) -> dict:
    """MINIMAL with one dotted key set (tables created as needed)."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in MINIMAL.items()}
    *tables, last = key.split(".")
    table = data
    for t in tables:
        table = table.setdefault(t, {})
    table[last] = value
    return data


def test_demo_config_loads_with_paths_resolved_against_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resolution must not depend on the current folder
    config = load_ops_config(DEMO)
    assert config.name == "demo"
    assert config.model.path == str(ROOT / "models" / "demo" / "demo.onnx")
    assert config.paths.inbox == str(ROOT / "demo-output" / "ops" / "inbox")
    assert config.paths.ledger_file == ROOT / "demo-output" / "ops" / "state" / "ledger.sqlite"
    assert config.production.sst_levels == ("L4", "L3S", "L3C", "L3U")
    assert config.production.missions == ()
    assert config.region.shape == (120, 120)


def test_demo_region_is_the_coarsened_default_ocean_grid():
    from varnet.datamodel.grid import Grid
    from varnet.osse.config import OsseConfig

    osse = load_toml(OsseConfig, ROOT / "configs" / "osse-default.toml").grid
    fine_lat = osse.lat_min + osse.resolution_deg * np.arange(osse.nlat)
    fine_lon = osse.lon_min + osse.resolution_deg * np.arange(osse.nlon)
    coarse = Grid(fine_lat, fine_lon).coarsened(2)
    lat, lon = load_ops_config(DEMO).region.centres()
    assert lat.dtype == np.float64 and lon.dtype == np.float64
    np.testing.assert_allclose(lat, coarse.lat, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lon, coarse.lon, rtol=0, atol=1e-9)
    assert load_ops_config(DEMO).region.grid().shape == coarse.shape


def test_load_toml_keeps_paths_as_written_and_round_trips(tmp_path):
    path = _write(tmp_path, MINIMAL)
    raw = load_toml(OpsConfig, path)
    assert raw.paths.inbox == "ops/inbox"
    assert raw.schedule.cron == "30 6 * * *"
    mapping = to_mapping(raw)
    del mapping["production"]["first_day"]  # None: TOML has no null, absent means None
    assert load_toml(OpsConfig, _write(tmp_path, mapping, "again.toml")) == raw


def test_absolute_and_home_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    data = _with("paths.products", str(tmp_path / "elsewhere"))
    data["model"] = {"path": "~/models/m.onnx"}
    config = load_ops_config(_write(tmp_path, data))
    assert config.paths.products == str(tmp_path / "elsewhere")
    assert config.model.path == str(tmp_path / "home" / "models" / "m.onnx")
    assert config.paths.archive == str(tmp_path / "ops" / "archive")


def test_region_centres():
    config = load_ops_config(DEMO)
    lat, lon = config.region.centres()
    assert lat.shape == (120,) and lon.shape == (120,)
    assert lat[0] == pytest.approx(32.05) and lat[-1] == pytest.approx(43.95)
    assert lon[0] == pytest.approx(-65.95) and lon[-1] == pytest.approx(-54.05)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("name", "Gulf Stream", "lowercase letters"),
    ("name", "a/b", "lowercase letters"),
    ("region.resolution_deg", 0.0, "must be in (0, 10]"),
    ("region.nlat", 1, "must be >= 2"),
    ("region.lat_min", 89.5, "within 90 S..90 N"),
    ("region.lon_min", 400.0, "[-180, 360)"),
    ("region.nlon", "many", "expected an integer"),
    ("model.provider", "tpu", "cpu, cuda, auto"),
    ("model.threads", 0, "must be >= 1"),
    ("model.batch_size", 0, "must be >= 1"),
    ("model.path", " ", "must name the ONNX model"),
    ("paths.archive", "ops/inbox", "same folder as paths.inbox"),
    ("paths.quarantine", "ops/inbox/q", "inside paths.inbox"),
    ("paths.inbox", "ops/state/inbox", "inside paths.state"),
    ("schedule.cron", "30 6 * *", "expected 5 fields"),
    ("schedule.cron", "30 25 * * *", "not a valid cron expression"),
    ("schedule.misfire_grace_minutes", 0, "must be >= 1"),
    ("production.lag_days", -1, "must be >= 0"),
    ("production.reissue_days", 0, "must be >= lag_days"),
    ("production.workers", 0, "must be >= 1"),
    ("production.sst_levels", [], "at least one"),
    ("production.sst_levels[1]", None, "unknown GHRSST level"),
    ("production.sst_levels", ["L4", "L4"], "twice"),
    ("production.missions[0]", None, "lowercase letters and digits"),
    ("production.first_day", "yesterday", "fits none of the accepted types"),
    ("production.colour", "blue", "unknown key"),
])
def test_bad_values_name_the_key(tmp_path, key, value, message):
    if key == "production.sst_levels[1]":
        data = _with("production.sst_levels", ["L4", "L5"])
    elif key == "production.missions[0]":
        data = _with("production.missions", ["J3"])
    else:
        data = _with(key, value)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_ops_config(path)
    assert info.value.key == key
    assert message in info.value.message
    assert str(path) in str(info.value)


def test_missing_section_and_file(tmp_path):
    data = {k: v for k, v in MINIMAL.items() if k != "model"}
    with pytest.raises(ConfigError, match="model: missing"):
        load_ops_config(_write(tmp_path, data))
    with pytest.raises(ConfigError, match="not found"):
        load_ops_config(tmp_path / "nope.toml")


def test_paths_that_resolve_to_one_folder_are_refused(tmp_path):
    data = _with("paths.archive", str(tmp_path / "ops" / "inbox"))  # absolute = relative inbox
    with pytest.raises(ConfigError) as info:
        load_ops_config(_write(tmp_path, data))
    assert info.value.key == "paths.archive"


def test_cron_is_checked_without_apscheduler(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "apscheduler.triggers.cron", None)  # import fails
    config = load_ops_config(_write(tmp_path, _with("schedule.cron", "0 7 * * 1-5")))
    assert config.schedule.cron == "0 7 * * 1-5"
    with pytest.raises(ConfigError, match="expected 5 fields"):
        load_ops_config(_write(tmp_path, _with("schedule.cron", "0 7 * * * *")))


def test_production_defaults_and_first_day(tmp_path):
    config = load_ops_config(_write(tmp_path, _with("production.first_day", "2012-10-01")))
    assert config.production.first_day == dt.date(2012, 10, 1)
    assert config.production.lag_days == 1 and config.production.reissue_days == 3
    assert dataclasses.is_dataclass(config) and config.schedule.misfire_grace_minutes == 60


def test_operational_modules_do_not_import_torch():
    code = ("import sys\n"
            "import varnet.operational.config, varnet.operational.ledger, "
            "varnet.operational.ingest\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr

"""``varnet-ops ledger rebuild`` (a ledger from the archive, the quarantine and the products) and
``varnet-ops status`` for monitoring (its exit code, stale finals, interrupted runs).

The state is made without a model: inputs written by :mod:`varnet.io.writers` and ingested,
products written by :func:`~varnet.operational.products.write_product` and recorded in the
ledger as :class:`~varnet.operational.pipeline.Producer` records them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from varnet.config import dump_toml
from varnet.io.names import alongtrack_filename, ghrsst_filename
from varnet.io.writers import write_alongtrack, write_sst
from varnet.operational.cli import main
from varnet.operational.config import OpsConfig, load_ops_config
from varnet.operational.ingest import ingest
from varnet.operational.ledger import (
    InputRecord,
    Ledger,
    LockHeldError,
    config_region_key,
    daemon_lock,
    product_file_region,
)
from varnet.operational.products import (
    ProductProvenance,
    product_variables,
    write_product,
)
from varnet.operational.rebuild import RebuildRefused, rebuild_ledger
from varnet.operational.status import status_report

TODAY = dt.date(2020, 1, 10)
ONE = dt.timedelta(days=1)
REGION = {"lat_min": 32.05, "lon_min": -65.95, "resolution_deg": 0.1, "nlat": 20, "nlon": 20}
NAME = "rebuilt"
MODEL_SHA = "ab" * 32


def _day(d: int) -> dt.date:
    return dt.date(2020, 1, d)


# --------------------------------------------------------------------------------------------
# a state made without a model


def _track(folder: Path, mission: str, day: dt.date, production: dt.date | None = None) -> Path:
    production = production or day + ONE
    n = 30
    times = np.datetime64(day.isoformat(), "m") + np.arange(n) * np.timedelta64(40, "m")
    return write_alongtrack(
        folder / alongtrack_filename("nrt", mission, day, production), time=times,
        longitude=np.linspace(-65.0, -64.0, n), latitude=np.linspace(32.2, 33.8, n),
        sla_unfiltered=None, sla_filtered=0.1 + 0.01 * np.sin(np.arange(n)), mdt=None,
        mission=mission, product="nrt", production_day=production)


def _sst(folder: Path, day: dt.date) -> Path:
    values = 290.0 + np.add.outer(np.arange(9) * 0.1, np.arange(9) * 0.05)
    return write_sst(folder / ghrsst_filename(day, "L4"), day=day,
                     lat=np.linspace(31.0, 35.0, 9), lon=np.linspace(-67.0, -63.0, 9),
                     sst_k=values, level="L4")


def _config(root: Path) -> tuple[Path, OpsConfig]:
    paths = {k: str(root / k) for k in ("inbox", "archive", "quarantine", "products", "state")}
    for folder in paths.values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    mapping = {"name": NAME, "region": REGION,
               "model": {"path": str(root / "model.onnx"), "provider": "cpu"},
               "paths": paths, "schedule": {"cron": "0 0 1 1 *"},
               "production": {"lag_days": 1, "reissue_days": 3, "workers": 1}}
    toml = root / "ops.toml"
    toml.write_text(dump_toml(mapping))
    return toml, load_ops_config(toml)


def _make(config: OpsConfig, day: dt.date, issue: dt.date, *, final: bool,
          replace_final: bool = False) -> Path:
    """Make a product as the producer does: claim, start, write the file, finish."""
    ledger = Ledger.for_config(config)
    inputs = ledger.inputs_for_days(day - 3 * ONE, day + 3 * ONE)
    lat, lon = config.region.centres()
    shape = config.region.shape
    fields = {k: np.full(shape, 0.01 * day.day, dtype=np.float32)
              for k in product_variables(absolute=False)}
    provenance = ProductProvenance(
        model_id="test-model", model_sha256=MODEL_SHA,
        input_files=tuple((Path(r.path).name, r.sha256) for r in inputs),
        processing_status="final" if final else "preliminary")
    with ledger, ledger.claimed(day) as mine:
        assert mine
        ledger.start_product(day, issue, replace_final=replace_final)
        path = write_product(config.paths.products, config.name, day, issue, lat, lon, fields,
                             provenance)
        ledger.finish_product(day, issue, path=path, inputs_used=inputs,
                              model_checksum=MODEL_SHA, final=final)
    return path


def _fail(config: OpsConfig, day: dt.date, issue: dt.date) -> None:
    with Ledger.for_config(config) as ledger, ledger.claimed(day):
        ledger.start_product(day, issue)
        ledger.fail_product(day, issue, "NoInputError: nothing to map")


def _deliver_and_ingest(config: OpsConfig, files: list[Path]) -> None:
    report = ingest(config, today=TODAY)
    assert len(report.outcomes) == len(files), report.summary()


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, OpsConfig]:
    """Inputs of January 2020 (one replaced by a later production, one quarantined), and
    products: final and preliminary issues, a final re-made on a later production day, a
    failed day. The re-issue window of TODAY (January 7 to 9) is complete."""
    toml, config = _config(tmp_path_factory.mktemp("state"))
    inbox = Path(config.paths.inbox)
    files = [_track(inbox, "j3", _day(d)) for d in range(1, 10)]
    files += [_track(inbox, "s3a", _day(d)) for d in range(4, 9)]
    files += [_sst(inbox, _day(d)) for d in range(4, 10)]
    bad = inbox / alongtrack_filename("nrt", "s3b", _day(6), _day(7))
    bad.write_bytes(b"not NetCDF at all")
    files.append(bad)
    _deliver_and_ingest(config, files)
    _fail(config, _day(4), _day(6))
    _make(config, _day(5), _day(8), final=True)
    # a later production of a file the final of the 5th used, then that final re-made
    _deliver_and_ingest(config, [_track(inbox, "j3", _day(5), production=_day(8))])
    _make(config, _day(5), _day(10), final=True, replace_final=True)
    _make(config, _day(6), _day(9), final=True)  # after it: not stale
    _make(config, _day(7), _day(8), final=False)
    _make(config, _day(7), _day(9), final=False)
    _make(config, _day(7), _day(10), final=True)
    _make(config, _day(8), _day(9), final=False)
    _make(config, _day(8), _day(10), final=False)
    _make(config, _day(9), _day(10), final=False)
    return toml, config


def _copy_state(made: tuple[Path, OpsConfig], root: Path) -> tuple[Path, OpsConfig]:
    """The same state under ``root``, its ledger naming the copied files."""
    src_toml, src = made
    toml, config = _config(root)
    for key in ("archive", "quarantine", "products", "state"):
        shutil.rmtree(getattr(config.paths, key))
        shutil.copytree(getattr(src.paths, key), getattr(config.paths, key), symlinks=True)
    old, new = str(src_toml.parent), str(root)
    conn = sqlite3.connect(config.paths.ledger_file)
    conn.execute("UPDATE inputs SET path = replace(path, ?, ?)", (old, new))
    conn.execute("UPDATE products SET path = replace(path, ?, ?), "
                 "inputs_used = replace(inputs_used, ?, ?)", (old, new, old, new))
    conn.commit()
    conn.close()
    return toml, config


def _inputs(ledger: Ledger) -> dict[str, tuple]:
    return {r.sha256: (r.status, r.kind, r.mission, r.level, r.data_day, r.production_day,
                       r.file_created, r.size, Path(r.path).name, r.original_name)
            for r in ledger.find_inputs()}


def _products(ledger: Ledger) -> dict[tuple, tuple]:
    return {(p.product_day, p.production_day): (
        p.status, Path(p.path).name, sorted(r["sha256"] for r in p.inputs_used),
        p.model_checksum, p.window)
        for d in range(1, 11) for p in ledger.product_history(_day(d))
        if p.status not in ("failed", "interrupted")}


def _days(report: dict) -> dict:
    return {k: report[k] for k in ("days", "missing", "stale", "flagged", "attention")}


def _status(config: OpsConfig) -> dict:
    with Ledger.for_config(config) as ledger:
        return _days(status_report(config, ledger, TODAY))


# --------------------------------------------------------------------------------------------
# rebuild


def test_a_lost_ledger_is_refused_then_rebuilt_as_it_was(made, tmp_path):
    toml, config = _copy_state(made, tmp_path)
    with Ledger.for_config(config) as ledger:
        inputs, products = _inputs(ledger), _products(ledger)
    before = _status(config)
    assert before["attention"] is False and before["missing"] == []
    statuses = {v[0] for v in inputs.values()}
    assert statuses == {"ok", "superseded", "quarantined"}
    assert products[(_day(5), _day(8))][0] == "replaced"

    config.paths.ledger_file.unlink()
    runner = CliRunner()
    lost = runner.invoke(main, ["status", "--config", str(toml), "--day", str(TODAY)])
    assert lost.exit_code == 4, lost.output
    assert "does not exist, but this state already holds files" in lost.stderr
    assert "varnet-ops ledger rebuild --config" in lost.stderr
    assert not config.paths.ledger_file.exists()  # nothing made a new, empty one

    result = runner.invoke(main, ["ledger", "rebuild", "--config", str(toml), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [
        f"ledger rebuilt: {config.paths.ledger_file}",
        "  22 inputs (20 ok, 1 superseded, 1 quarantined)",
        "  9 products (3 final, 5 preliminary, 1 replaced)",
        "  every file was read"]

    with Ledger.for_config(config) as ledger:
        assert _inputs(ledger) == inputs
        assert _products(ledger) == products
        (run,) = ledger.recent_runs()
        assert (run.kind, run.status) == ("rebuild", "ok")
    assert _status(config) == before


def test_a_damaged_ledger_is_kept_aside_and_rebuilt(made, tmp_path):
    _, config = _copy_state(made, tmp_path)
    ledger_file = config.paths.ledger_file
    with open(ledger_file, "r+b") as fh:
        fh.truncate(ledger_file.stat().st_size // 2)
    damaged = ledger_file.read_bytes()
    now = dt.datetime(2020, 1, 10, 6, 30, 5, tzinfo=dt.UTC)
    report = rebuild_ledger(config, now=now)
    kept = ledger_file.with_name("ledger.sqlite.damaged-20200110T063005")
    assert report.kept == kept and kept.read_bytes() == damaged  # never deleted
    assert sum(report.inputs.values()) == 22 and report.products["final"] == 3
    with Ledger.for_config(config) as ledger:
        assert len(ledger.find_inputs()) == 22
        assert ledger.latest_product(_day(7)).status == "final"
    assert sorted(p.name for p in ledger_file.parent.glob(".ledger*")) == []  # no leftovers


def test_an_empty_ledger_is_refused_and_rebuilt(made, tmp_path):
    toml, config = _copy_state(made, tmp_path)
    config.paths.ledger_file.write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        Path(f"{config.paths.ledger_file}{suffix}").unlink(missing_ok=True)
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--config", str(toml), "--day", str(TODAY)])
    assert result.exit_code == 4 and "is empty (0 bytes)" in result.stderr
    assert "varnet-ops ledger rebuild" in result.stderr
    result = runner.invoke(main, ["ledger", "rebuild", "--config", str(toml), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "the former ledger is kept as" in result.stdout
    result = runner.invoke(main, ["status", "--config", str(toml), "--day", str(TODAY)])
    assert result.exit_code == 0, result.output


def test_rebuild_refuses_while_a_daemon_runs_and_a_ledger_that_opens_fine(made, tmp_path):
    toml, config = _copy_state(made, tmp_path)
    before = config.paths.ledger_file.read_bytes()
    with daemon_lock(config.paths.state):
        with pytest.raises(LockHeldError, match="another varnet-ops daemon is running"):
            rebuild_ledger(config, force=True)
        result = CliRunner().invoke(main, ["ledger", "rebuild", "--config", str(toml)])
        assert result.exit_code == 3
    with pytest.raises(RebuildRefused, match=r"opens fine \(22 inputs, 10 products\)"):
        rebuild_ledger(config)
    result = CliRunner().invoke(main, ["ledger", "rebuild", "--config", str(toml)])
    assert result.exit_code == 2 and "pass --force" in result.stderr
    assert config.paths.ledger_file.read_bytes() == before
    report = rebuild_ledger(config, force=True)
    assert report.kept is not None and sum(report.products.values()) == 9


def test_rebuild_refuses_while_another_region_sharing_the_state_makes_a_product(made, tmp_path):
    _, config = _copy_state(made, tmp_path)
    with Ledger(config.paths.ledger_file, region="another region") as other:
        assert other.claim(_day(12))  # by this (live) process, for another region
        with pytest.raises(RebuildRefused, match=f"is making the product of {_day(12)}"):
            rebuild_ledger(config, force=True)
        assert other.holds_claim(_day(12))


def test_unreadable_files_are_reported(made, tmp_path):
    toml, config = _copy_state(made, tmp_path)
    product = next(Path(config.paths.products).glob(f"{NAME}_varnet_phy_l4_20200109_*.nc"))
    product.write_bytes(b"truncated")
    archived = next(Path(config.paths.archive).glob("sst/2020/01/*.nc"))
    archived.write_bytes(b"damaged")
    stray = Path(config.paths.archive) / "alongtrack" / "2020" / "01" / "notes.nc"
    stray.write_bytes(b"?")
    config.paths.ledger_file.unlink()
    result = CliRunner().invoke(main, ["ledger", "rebuild", "--config", str(toml), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "could not read 3 file(s) (left where they are):" in result.stdout
    assert f"    {product}: " in result.stdout and f"    {stray}: " in result.stdout
    assert f"    {archived}: " in result.stdout and "(recorded, without its date_created)" \
        in result.stdout
    with Ledger.for_config(config) as ledger:
        assert ledger.latest_product(_day(9)) is None  # its file is unreadable
        assert ledger.find_inputs(path=archived)[0].status == "ok"
        (run,) = ledger.recent_runs()
        assert run.error.startswith("could not read 3 file(s): ")


def test_products_of_a_version_1_ledger_get_the_region_of_their_files(made, tmp_path):
    _, config = _copy_state(made, tmp_path)
    path = config.paths.ledger_file
    with Ledger.for_config(config) as ledger:
        mine = ledger.latest_product(_day(7))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE products SET region = ''")  # as the migration from version 1 leaves
    conn.execute("UPDATE products SET path = '/gone.nc' WHERE product_day = '2020-01-08'")
    conn.commit()
    conn.close()
    assert Ledger(path).latest_product(_day(7)) is None  # region '': no configuration's
    assert product_file_region(mine.path) == config_region_key(config)
    with Ledger.for_config(config) as ledger:  # opening for the configuration assigns it
        assert ledger.latest_product(_day(7)).id == mine.id
        assert ledger.latest_product(_day(8)) is None  # its file is gone: no region's
        assert ledger.product_history(_day(4))[0].status == "failed"  # no file: this region


# --------------------------------------------------------------------------------------------
# status for monitoring


def test_status_exit_code_stale_and_interrupted(made, tmp_path):
    toml, config = _copy_state(made, tmp_path)
    runner = CliRunner()

    def status() -> tuple[int, list[str], dict]:
        text = runner.invoke(main, ["status", "--config", str(toml), "--day", str(TODAY)])
        data = runner.invoke(main, ["status", "--config", str(toml), "--day", str(TODAY),
                                    "--json"])
        assert data.exit_code == text.exit_code
        return text.exit_code, text.stdout.splitlines(), json.loads(data.stdout)

    code, lines, report = status()
    assert code == 0, lines
    assert lines[-1] == "missing: nothing" and report["attention"] is False

    # a file of the windows of the final 6th and 7th arrives after they were made: stale (the
    # 6th, before the re-issue window, is listed too)
    _deliver_and_ingest(config, [late := _track(Path(config.paths.inbox), "s3a", _day(9))])
    with Ledger.for_config(config) as ledger:
        (record,) = ledger.find_inputs(original_name=late.name)
    code, lines, report = status()
    reason = (f"inputs changed after the final product (file {late.name} archived at "
              f"{record.ingested_at})")
    assert code == 1
    assert report["stale"] == ["2020-01-06", "2020-01-07"]
    assert report["days"]["2020-01-07"]["stale"] == reason
    assert report["days"]["2020-01-06"]["stale"] == reason
    assert any(line.startswith("  2020-01-07: final (issue 2020-01-10) ")
               and line.endswith(f" - stale: {reason}") for line in lines)
    assert "stale: 2020-01-06, 2020-01-07" in lines

    # a run killed while it made the 9th: its run and product read "interrupted"
    subprocess.run([sys.executable, "-c", _KILLED_RUN, str(toml), "2020-01-09", "2020-01-11"],
                   check=True)
    code, lines, report = status()
    assert code == 1
    assert report["last_run"]["status"] == "interrupted"
    assert lines[1].startswith("last run: #") and " daily interrupted, " in lines[1]
    day = report["days"]["2020-01-09"]
    assert day["status"] == "ok" and day["flags"] == [
        "the issue of 2020-01-11 interrupted: its maker stopped before finishing "
        f"(started {day_started(config, _day(9), _day(11))})"]
    assert report["flagged"] == ["2020-01-09"]


def day_started(config: OpsConfig, day: dt.date, issue: dt.date) -> str:
    with Ledger.for_config(config) as ledger:
        return ledger.product(day, issue).started_at


_KILLED_RUN = textwrap.dedent("""
    import datetime, os, sys
    from varnet.operational.config import load_ops_config
    from varnet.operational.ledger import Ledger
    ledger = Ledger.for_config(load_ops_config(sys.argv[1]))
    day, issue = (datetime.date.fromisoformat(a) for a in sys.argv[2:4])
    run = ledger.start_run("daily")
    assert ledger.claim(day)
    ledger.start_product(day, issue, run_id=run)
    os._exit(0)  # killed: no finish, no release, no end of run
""")


def test_status_of_missing_and_failed_days(made, tmp_path):
    _, config = _copy_state(made, tmp_path)
    for path in Path(config.paths.products).glob(f"{NAME}_varnet_phy_l4_20200108_*.nc"):
        path.unlink()  # the files of the 8th are gone: the ledger must not vouch for them
    with Ledger.for_config(config) as ledger:
        report = status_report(config, ledger, TODAY + ONE)  # window: the 8th to the 10th
    assert report["missing"] == ["2020-01-10"] and report["attention"]
    assert report["days"]["2020-01-10"]["error"] == "not made yet (no run since it became due)"
    assert report["days"]["2020-01-08"]["flags"][0].startswith("its file ")
    with Ledger.for_config(config) as ledger:
        report = status_report(config, ledger, _day(7))  # window: the 4th to the 6th
    assert report["missing"] == ["2020-01-04"]
    assert report["days"]["2020-01-04"]["status"] == "failed"


def test_ledger_records_inputs_as_ingest_did(made):
    _, config = made
    with Ledger.for_config(config) as ledger:
        (record,) = [r for r in ledger.find_inputs(status="quarantined")]
        assert isinstance(record, InputRecord) and record.kind == "alongtrack"
        assert record.mission == "s3b" and record.data_day == _day(6)
        assert os.path.isfile(record.path)

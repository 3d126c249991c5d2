"""The ledger's numbered schema migrations: ledgers of every older version (built with the SQL
those versions had, plus rows) are migrated on open, rows and ids kept, in one transaction;
a newer ledger is refused."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest

from varnet.operational.config import ModelConfig, OpsConfig, PathsConfig, RegionConfig
from varnet.operational.ledger import Ledger, LedgerError, config_region_key, migrations
from varnet.operational.ledger.migrations import SCHEMA_V1, m0002_product_regions
from varnet.operational.ledger.schema import LATEST_VERSION, TABLES, stamp

D = dt.date(2020, 1, 10)
T = "2020-01-01T00:00:00.000000Z"


def _config(root: Path) -> OpsConfig:
    paths = {k: str(root / k) for k in ("inbox", "archive", "quarantine", "products", "state")}
    return OpsConfig(name="test", region=RegionConfig(30.0, -60.0, 0.5, 4, 6),
                     model=ModelConfig(path=str(root / "model.onnx")),
                     paths=PathsConfig(**paths))


def _v1_ledger(path: Path) -> sqlite3.Connection:
    """A version-1 ledger (its own SQL) with rows whose ids have gaps: inputs 1, 2, 4 (3 and
    5 deleted, so the next id is 6), runs 1 and 2, products 1 and 2, one claim. Returned
    open (autocommit), for a caller that adds rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for i in range(1, 6):
        conn.execute("INSERT INTO inputs (path, original_name, kind, mission, data_day, "
                     "production_day, sha256, size, ingested_at, status) VALUES (?, ?, ?, "
                     "'j3', ?, ?, ?, 10, ?, 'ok')",
                     (f"/a/{i}.nc", f"{i}.nc", "sst" if i == 4 else "alongtrack", str(D),
                      str(D), f"s{i}", T))
    conn.execute("DELETE FROM inputs WHERE id IN (3, 5)")
    for status in ("ok", "failed"):
        conn.execute("INSERT INTO runs (kind, started, finished, status, host, pid) VALUES "
                     "('daily', ?, ?, ?, 'elsewhere', 1)", (T, T, status))
    for issue, status in ((D + dt.timedelta(days=1), "ok"), (D + dt.timedelta(days=3), "final")):
        conn.execute("INSERT INTO products (product_day, production_day, run_id, path, status, "
                     "inputs_used, started_at, updated_at) VALUES (?, ?, 1, NULL, ?, '[]', ?, "
                     "?)", (str(D), str(issue), status, T, T))
    conn.execute("INSERT INTO claims VALUES (?, 'elsewhere:1:x', 'elsewhere', 1, NULL, ?)",
                 (str(D + dt.timedelta(days=5)), T))
    return conn


def _v2_ledger(path: Path, region: str = "r1") -> None:
    """A version-2 ledger, as version 2's code left it: a version-1 ledger migrated by
    version 2's own migration, opened since by a configuration of region ``region``."""
    conn = _v1_ledger(path)
    conn.execute("BEGIN IMMEDIATE")
    m0002_product_regions(conn)
    stamp(conn, 2)
    conn.execute("INSERT INTO meta VALUES ('region', ?)", (region,))
    conn.execute("UPDATE products SET region = ?", (region,))
    conn.execute("INSERT INTO runs (kind, started, status, host, pid, pid_start) VALUES "
                 "('rebuild', ?, 'interrupted', 'elsewhere', 2, '123')", (T,))
    conn.execute("COMMIT")
    conn.close()


def _rows(path: Path) -> dict[str, list[tuple]]:
    """The ids and the columns every version has, per table."""
    conn = sqlite3.connect(path)
    rows = {
        "inputs": conn.execute("SELECT id, path, kind, sha256, status FROM inputs ORDER BY id"
                               ).fetchall(),
        "runs": conn.execute("SELECT id, kind, started, status, host, pid FROM runs ORDER BY id"
                             ).fetchall(),
        "products": conn.execute("SELECT id, product_day, production_day, run_id FROM "
                                 "products ORDER BY id").fetchall(),
        "claims": conn.execute("SELECT product_day, owner, host, pid FROM claims ORDER BY "
                               "product_day").fetchall(),
    }
    conn.close()
    return rows


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _sql(path: Path, name: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    finally:
        conn.close()


def _schema(path: Path) -> dict[str, object]:
    """Every table and index (SQL with spacing and quoting normalised) and every table's
    columns."""
    def normal(sql: str | None) -> str | None:
        if sql is None:
            return None
        text = re.sub(r"\s+", " ", sql.replace('"', "").replace("IF NOT EXISTS ", ""))
        return text.replace("( ", "(").replace(" )", ")").strip()

    conn = sqlite3.connect(path)
    found: dict[str, object] = {
        name: (kind, normal(sql)) for kind, name, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'")}
    for table in TABLES:
        found[f"{table} columns"] = conn.execute(f"PRAGMA table_info({table})").fetchall()
    conn.close()
    return found


# --------------------------------------------------------------------------------------------


def test_migrations_are_numbered_from_1_without_gaps():
    assert sorted(migrations.MIGRATIONS) == list(range(1, LATEST_VERSION))
    assert LATEST_VERSION == 3


@pytest.mark.parametrize("version", [1, 2])
def test_a_migrated_ledger_has_the_schema_of_a_new_one(tmp_path, version):
    old = tmp_path / "old" / "ledger.sqlite"
    if version == 1:
        _v1_ledger(old).close()
    else:
        _v2_ledger(old)
    Ledger(old).close()
    new = tmp_path / "new" / "ledger.sqlite"
    Ledger(new).close()
    assert _schema(old) == _schema(new)


def test_a_version_1_state_is_migrated_on_open_rows_and_ids_kept(tmp_path):
    config = _config(tmp_path)
    path = config.paths.ledger_file
    _v1_ledger(path).close()
    before = _rows(path)
    with Ledger.for_config(config) as led:
        assert _version(path) == LATEST_VERSION
        assert _rows(path) == before
        region = config_region_key(config)
        assert [r.id for r in led.recent_runs()] == [2, 1]  # now this region's
        assert {r.region for r in led.recent_runs()} == {region}
        assert [c.region for c in led.claims(every_region=True)] == [""]  # none known then
        assert [r.id for r in led.find_inputs()] == [1, 2, 4]
        new = led.record_input(path="/a/6.nc", original_name="6.nc", kind="swot",
                               sha256="s6", size=10, status="ok", data_day=D)
        assert new.id == 6  # the sequence was kept: ids 3 and 5 are never reused
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(LATEST_VERSION),)
    conn.close()


def test_a_version_2_ledger_is_migrated_to_version_3(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    _v2_ledger(path, region="r1")
    before = _rows(path)
    assert "CHECK (kind IN" in _sql(path, "inputs")
    with Ledger(path) as led:  # the region stored by version 2: "r1"
        assert _version(path) == 3 and led.region == "r1"
        assert _rows(path) == before
        assert "CHECK (kind" not in _sql(path, "inputs")
        assert "CHECK (status IN ('ok', 'quarantined', 'superseded'))" in _sql(path, "inputs")
        (claim,) = led.claims()  # the claim, and the runs, are now the region's
        assert (claim.region, claim.product_day, claim.owner) == (
            "r1", D + dt.timedelta(days=5), "elsewhere:1:x")
        assert [(r.id, r.region, r.pid_start) for r in led.recent_runs()] == [
            (3, "r1", "123"), (2, "r1", None), (1, "r1", None)]
        assert [p.id for p in led.product_history(D)] == [1, 2]
        assert led.latest_product(D).status == "final"
    with Ledger(path, region="r2") as other:  # another region sees none of them
        assert other.claims() == [] and other.recent_runs() == []
        assert other.latest_product(D) is None
        assert len(other.claims(every_region=True)) == 1


@pytest.mark.parametrize("version", [1, 2])
def test_after_migration_an_input_of_a_new_kind_is_recorded(tmp_path, version):
    path = tmp_path / "ledger.sqlite"
    if version == 1:
        _v1_ledger(path).close()
    else:
        _v2_ledger(path)
    with Ledger(path) as led:
        for kind in ("swot", "drifter"):
            led.record_input(path=f"/a/{kind}.nc", original_name=f"{kind}.nc", kind=kind,
                             sha256=f"x-{kind}", size=5, status="ok", data_day=D)
        (swot,) = led.find_inputs(kind="swot")
        assert (swot.kind, swot.original_name, swot.data_day) == ("swot", "swot.nc", D)
        assert [r.kind for r in led.inputs_for_days(D, D, kind="drifter")] == ["drifter"]
        for bad in ("", "SWOT L3", "../x"):  # kinds name folders: short lower-case names
            with pytest.raises(LedgerError, match="input kind must be a short lower-case"):
                led.record_input(path="/a/b.nc", original_name="b.nc", kind=bad,
                                 sha256="b", size=1, status="ok")


def test_a_failed_migration_to_version_3_leaves_the_ledger_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "ledger.sqlite"
    _v2_ledger(path)
    before, schema = _rows(path), _schema(path)

    def broken(conn: sqlite3.Connection) -> None:
        migrations.m0003_free_kinds_and_regions(conn)  # every table rebuilt, then:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(migrations.MIGRATIONS, 2, broken)
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    message = str(info.value)
    assert str(path) in message and "disk I/O error" in message
    assert "cannot migrate the ledger from schema version 2 to 3" in message
    assert "left as it was" in message
    assert _version(path) == 2 and _rows(path) == before and _schema(path) == schema
    assert "CHECK (kind IN" in _sql(path, "inputs")
    monkeypatch.undo()
    with Ledger(path) as led:  # the real migration then succeeds
        assert _version(path) == 3 and len(led.find_inputs()) == 3


def test_a_ledger_newer_than_this_varnet_is_refused_untouched(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    schema = _schema(path)
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    message = str(info.value)
    assert str(path) in message
    assert f"ledger schema version {LATEST_VERSION + 1} is newer than this varnet " \
           f"understands ({LATEST_VERSION})" in message
    assert "upgrade varnet" in message
    assert _version(path) == LATEST_VERSION + 1 and _schema(path) == schema

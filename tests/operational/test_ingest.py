"""Ingest: good files archived, every kind of bad file quarantined with its reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from varnet.config import ConfigError, dump_toml
from varnet.datamodel.files import find_input_files
from varnet.io import atomic as atomic_module
from varnet.io.atomic import NoSpaceError, atomic_dataset, atomic_path
from varnet.io.names import alongtrack_filename, ghrsst_filename
from varnet.io.writers import write_alongtrack, write_sst
from varnet.operational import ingest as ingest_module
from varnet.operational.config import RegionConfig, create_folders, load_ops_config
from varnet.operational.ingest import IngestSettings, ingest
from varnet.operational.ledger import InstanceLock, Ledger, LedgerError, LockHeldError

TODAY = dt.date(2020, 1, 10)
DAY = dt.date(2020, 1, 5)
REGION = RegionConfig(lat_min=32.05, lon_min=-65.95, resolution_deg=0.1, nlat=20, nlon=20)
N_POINTS = 30


# --------------------------------------------------------------------------------------------
# crafting files


def track(folder: Path, *, mission: str = "j3", day: dt.date = DAY,
          production: dt.date | None = None, product: str = "nrt",
          sla: np.ndarray | None = None, times: np.ndarray | None = None,
          name: str | None = None, created: dt.date | None = None) -> Path:
    """One along-track file (``created``: the production day written inside)."""
    production = production or day + dt.timedelta(days=1)
    if times is None:
        times = np.datetime64(day.isoformat(), "m") + np.arange(N_POINTS) * np.timedelta64(40, "m")
    if sla is None:
        sla = 0.1 + 0.01 * np.sin(np.arange(N_POINTS))
    name = name or alongtrack_filename(product, mission, day, production)
    return write_alongtrack(
        folder / name, time=times, longitude=np.linspace(-65.0, -60.0, N_POINTS),
        latitude=np.linspace(32.0, 35.0, N_POINTS), sla_unfiltered=None, sla_filtered=sla,
        mdt=None, mission=mission, product=product, production_day=created or production)


def sst(folder: Path, *, day: dt.date = DAY, level: str = "L4",
        values: np.ndarray | float | None = None, file_day: dt.date | None = None,
        lat: np.ndarray | None = None, name: str | None = None) -> Path:
    """One GHRSST file on a 9 x 9 grid around the region (``file_day``: the time inside)."""
    lat = np.linspace(31.0, 35.0, 9) if lat is None else lat
    lon = np.linspace(-67.0, -63.0, 9)
    if values is None:
        values = 290.0 + np.add.outer(np.arange(9) * 0.1, np.arange(9) * 0.05)
    values = np.broadcast_to(np.asarray(values, dtype=float), (9, 9))
    name = name or ghrsst_filename(day, level)
    return write_sst(folder / name, day=file_day or day, lat=lat, lon=lon, sst_k=values,
                     level=level)


def edit(path: Path, change: Callable[[netCDF4.Dataset], None]) -> Path:
    with netCDF4.Dataset(path, "a") as ds:
        change(ds)
    return path


def set_attr(variable: str, attr: str, value: object) -> Callable[[netCDF4.Dataset], None]:
    return lambda ds: ds.variables[variable].setncattr(attr, value)


OTHER_SST = "20200105120000-OTHER-L4_GHRSST-SSTfnd-TEST-v02.0-fv01.0.nc"


@pytest.fixture
def env(tmp_path):
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", region=REGION)
    for folder in (settings.inbox, settings.archive, settings.quarantine):
        folder.mkdir()
    with Ledger(tmp_path / "state" / "ledger.sqlite") as ledger:
        yield settings, ledger


def run(env, today: dt.date = TODAY, **changes):
    settings, ledger = env
    if changes:
        settings = dataclasses.replace(settings, **changes)
    return ingest(settings, ledger, today=today)


def by_name(report) -> dict:
    return {o.name: o for o in report.outcomes}


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


# --------------------------------------------------------------------------------------------
# good files


def test_good_files_are_archived_and_recorded(env, caplog):
    settings, ledger = env
    (settings.inbox / "sub" / "deeper").mkdir(parents=True)
    a = track(settings.inbox)
    b = track(settings.inbox / "sub", mission="s3a")
    c = sst(settings.inbox / "sub" / "deeper")
    d = sst(settings.inbox, level="L3S", day=DAY - dt.timedelta(days=40))
    sha = {p.name: ingest_module._sha256(p)[0] for p in (a, b, c, d)}
    with caplog.at_level(logging.INFO, logger="varnet.ops.ingest"):
        report = run(env)
    assert report.summary() == "4 files: 4 archived"
    assert report.days_changed == (DAY - dt.timedelta(days=40), DAY)
    archive = settings.archive
    assert files_under(archive) == sorted([
        archive / "alongtrack" / "2020" / "01" / a.name,
        archive / "alongtrack" / "2020" / "01" / b.name,
        archive / "sst" / "2020" / "01" / c.name,
        archive / "sst" / "2019" / "11" / d.name,
    ])
    assert files_under(settings.inbox) == []
    rows = {r.original_name: r for r in ledger.find_inputs()}
    assert {n: r.sha256 for n, r in rows.items()} == sha
    assert all(r.status == "ok" for r in rows.values())
    assert rows[a.name].mission == "j3" and rows[a.name].production_day == DAY + dt.timedelta(1)
    assert rows[c.name].level == "L4" and rows[c.name].kind == "sst"
    assert rows[c.name].production_day == DAY  # from date_created
    for path in (a, b, c, d):  # one readable line per file
        lines = [r for r in caplog.records if path.name in r.getMessage()]
        assert len(lines) == 1 and lines[0].getMessage().startswith("archived ")
    # the archive is a tree that training's indexer reads as it is
    found = find_input_files(archive)
    assert len(found.sst) == 2


def test_the_copies_of_a_killed_ingest_are_removed_by_the_next(env, caplog):
    """An ingest killed while copying (SIGKILL) leaves its hidden temporary copy in the
    archive or the quarantine; the next ingest (under the same lock) removes it, and only
    it."""
    settings, _ = env
    folder = settings.archive / "alongtrack" / "2020" / "01"
    folder.mkdir(parents=True)
    left = [folder / ".nrt_global_j3_phy_l3_20200105_20200106.nc.0a1b2c3d4e5f.tmp",
            settings.quarantine / "20200110" / ".bad.nc.abcdef012345.tmp"]
    left[1].parent.mkdir()
    kept = [folder / "notes.tmp", folder / ".other.nc.xyz.tmp"]
    for path in left + kept:
        path.write_bytes(b"half a copy")
    a = track(settings.inbox)
    report = run(env)
    assert [o.action for o in report.outcomes] == ["archived"] and not a.exists()
    assert not any(p.exists() for p in left) and all(p.exists() for p in kept)
    assert sum("left by an ingest that was stopped while copying" in r.getMessage()
               for r in caplog.records) == 2


def test_an_empty_pass_is_valid(env):
    settings, _ = env
    empty = np.array([], dtype="datetime64[ns]")
    path = write_alongtrack(
        settings.inbox / alongtrack_filename("nrt", "g2", DAY, DAY + dt.timedelta(1)),
        time=empty, longitude=[], latitude=[], sla_unfiltered=None, sla_filtered=[], mdt=None,
        mission="g2", product="nrt", production_day=DAY + dt.timedelta(1))
    (outcome,) = run(env).outcomes
    assert outcome.action == "archived" and outcome.name == path.name


def test_nothing_to_do_and_reingest_is_a_no_op(env):
    settings, ledger = env
    assert run(env).outcomes == ()
    a = track(settings.inbox)
    keep = a.read_bytes()
    run(env)
    a.write_bytes(keep)  # the same file delivered again
    report = run(env)
    (outcome,) = report.outcomes
    assert outcome.action == "duplicate" and "identical" in outcome.reason
    assert files_under(settings.inbox) == []
    assert len(ledger.find_inputs()) == 1
    assert len(files_under(settings.archive)) == 1


def test_ingest_from_an_ops_config(tmp_path):
    config = {
        "name": "test",
        "region": {"lat_min": 32.05, "lon_min": -65.95, "resolution_deg": 0.1, "nlat": 20,
                   "nlon": 20},
        "model": {"path": "m.onnx"},
        "paths": {"inbox": "in", "archive": "arch", "quarantine": "q", "products": "p",
                  "state": "state"},
        "production": {"missions": ["j3"]},
    }
    (tmp_path / "ops.toml").write_text(dump_toml(config))
    cfg = load_ops_config(tmp_path / "ops.toml")
    create_folders(cfg)
    track(tmp_path / "in")
    track(tmp_path / "in", mission="al")
    report = ingest(cfg, today=TODAY)
    assert [o.action for o in report.outcomes] == ["quarantined", "archived"]
    assert "mission 'al' is not accepted" in report.outcomes[0].reason
    with Ledger(tmp_path / "state" / "ledger.sqlite") as ledger:
        assert len(ledger.find_inputs(status="ok")) == 1


# --------------------------------------------------------------------------------------------
# bad files: each quarantined with its reason, the good files of the same day archived


def _corrupt(inbox: Path) -> Path:
    path = inbox / alongtrack_filename("nrt", "s3a", DAY, DAY + dt.timedelta(1))
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def _truncated(inbox: Path) -> Path:
    full = track(inbox.parent, mission="s3a")
    data = full.read_bytes()
    full.unlink()
    path = inbox / full.name
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty(inbox: Path) -> Path:
    path = inbox / alongtrack_filename("nrt", "s3a", DAY, DAY + dt.timedelta(1))
    path.write_bytes(b"")
    return path


BAD_CASES = {
    "corrupt": (_corrupt, "cannot be opened as NetCDF"),
    "truncated": (_truncated, "truncated"),
    "empty": (_empty, "cannot be opened as NetCDF"),
    "wrong variable (along-track)": (
        lambda d: edit(track(d, mission="s3a"), lambda ds: ds.renameVariable("sla_filtered",
                                                                                "sla")),
        "variable 'sla_filtered' not found"),
    "wrong variable (sst)": (
        lambda d: edit(sst(d, name=OTHER_SST), lambda ds: ds.renameVariable("analysed_sst",
                                                                            "sst")),
        "'analysed_sst' (L4) or 'sea_surface_temperature' (L3) not found"),
    "wrong units (along-track)": (
        lambda d: edit(track(d, mission="s3a"), set_attr("sla_filtered", "units", "K")),
        "units 'K'; expected a length: metres"),
    "wrong units (sst)": (
        lambda d: edit(sst(d, name=OTHER_SST), set_attr("analysed_sst", "units", "degF")),
        "units 'degF'"),
    "nan-only (along-track)": (
        lambda d: track(d, mission="s3a", sla=np.full(N_POINTS, np.nan)),
        f"all {N_POINTS} points of 'sla_filtered' are missing"),
    "nan-only (sst)": (lambda d: sst(d, name=OTHER_SST, values=np.nan),
                       "all 81 SST pixels are missing"),
    "out of range (along-track)": (
        lambda d: track(d, mission="s3a", sla=np.full(N_POINTS, 12.0)),
        "above the limit 5 m"),
    "out of range (sst)": (lambda d: sst(d, name=OTHER_SST, values=330.0),
                           "outside the plausible range"),
    "future data day": (
        lambda d: track(d, mission="s3a", day=TODAY + dt.timedelta(1),
                        production=TODAY + dt.timedelta(2)),
        "out of window: data day 2020-01-11 is in the future"),
    "future production day": (
        lambda d: track(d, mission="s3a", day=TODAY, production=TODAY + dt.timedelta(1)),
        "production day 2020-01-11 is in the future"),
    "production before data day": (
        lambda d: track(d, mission="s3a", production=DAY - dt.timedelta(1)),
        "is before its data day"),
    "times outside the named day (along-track)": (
        lambda d: track(d, mission="s3a", name=alongtrack_filename(
            "nrt", "s3a", DAY, DAY + dt.timedelta(1)), day=DAY + dt.timedelta(1),
            production=DAY + dt.timedelta(1)),
        "outside the data day 2020-01-05 named in the file name"),
    "time outside the named day (sst)": (
        lambda d: sst(d, name=OTHER_SST, file_day=DAY + dt.timedelta(1)),
        "out of window: variable 'time' is 2020-01-06T12:00:00, outside the day 2020-01-05"),
    "wrong grid (sst)": (lambda d: sst(d, name=OTHER_SST, lat=np.linspace(0.0, 4.0, 9)),
                         "does not overlap the region"),
    "level differs from the name (sst)": (
        lambda d: sst(d, level="L3S", name=OTHER_SST),
        "the file name says L4 but the file holds 'sea_surface_temperature'"),
    "unrecognised name": (lambda d: shutil.copy(sst(d.parent, name=OTHER_SST, values=291.0),
                                                d / "sst-today.nc"),
                          "unrecognised file name; expected a CMEMS L3 along-track name"),
    "unrecognised name, not NetCDF": (
        lambda d: (d / "notes.nc").write_text("not a NetCDF file") and d / "notes.nc",
        "the content is not an L3 along-track file: cannot be opened as NetCDF"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_file_is_quarantined_with_its_reason(env, case, caplog):
    settings, ledger = env
    make, expected = BAD_CASES[case]
    good = [track(settings.inbox), sst(settings.inbox)]
    bad = Path(make(settings.inbox))
    with caplog.at_level(logging.INFO, logger="varnet.ops.ingest"):
        report = run(env)
    outcomes = by_name(report)
    for path in good:
        assert outcomes[path.name].action == "archived", outcomes[path.name]
    outcome = outcomes[bad.name]
    assert outcome.action == "quarantined"
    assert expected in outcome.reason
    qdir = settings.quarantine / "20200110"  # the ingest day
    assert outcome.destination == qdir / bad.name
    assert outcome.destination.is_file()
    note = (qdir / (bad.name + ".reason.txt")).read_text()
    assert f"file: {bad.name}" in note and expected in note and "problem:" in note
    (row,) = ledger.find_inputs(original_name=bad.name)
    assert row.status == "quarantined" and expected in row.reason
    assert row.path == str(outcome.destination)
    assert files_under(settings.inbox) == []
    warned = [r for r in caplog.records if bad.name in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING


def test_filters_mission_level_and_first_day(env):
    settings, _ = env
    keep = track(settings.inbox)
    other_mission = track(settings.inbox, mission="al")
    old = track(settings.inbox, day=dt.date(2019, 6, 1))
    l3u = sst(settings.inbox, level="L3S",
              name="20200105120000-XYZ-L3U_GHRSST-SSTskin-TEST-v02.0-fv01.0.nc")
    report = run(env, missions=("j3",), sst_levels=("L4", "L3S"),
                 first_day=dt.date(2019, 12, 1))
    outcomes = by_name(report)
    assert outcomes[keep.name].action == "archived"
    assert "mission 'al' is not accepted" in outcomes[other_mission.name].reason
    assert "before production.first_day 2019-12-01" in outcomes[old.name].reason
    assert "GHRSST level L3U is not accepted" in outcomes[l3u.name].reason


# --------------------------------------------------------------------------------------------
# duplicates and later productions


def test_same_content_twice_in_one_run(env):
    settings, ledger = env
    (settings.inbox / "again").mkdir()
    a = track(settings.inbox)
    shutil.copy(a, settings.inbox / "again" / a.name)
    report = run(env)
    assert sorted(o.action for o in report.outcomes) == ["archived", "duplicate"]
    assert files_under(settings.inbox) == []
    assert len(ledger.find_inputs()) == 1


def test_same_name_different_content_is_a_duplicate(env):
    settings, ledger = env
    first = track(settings.inbox)
    run(env)
    archived = settings.archive / "alongtrack" / "2020" / "01" / first.name
    before = archived.read_bytes()
    track(settings.inbox, sla=np.full(N_POINTS, 0.3))  # same name, same production
    (outcome,) = run(env).outcomes
    assert outcome.action == "quarantined"
    assert outcome.reason.startswith("duplicate: ") and "not newer" in outcome.reason
    assert archived.read_bytes() == before
    assert [r.status for r in ledger.find_inputs(original_name=first.name)] == [
        "ok", "quarantined"]


def test_same_name_later_production_replaces(env):
    settings, ledger = env
    first = track(settings.inbox)
    run(env)
    archived = settings.archive / "alongtrack" / "2020" / "01" / first.name
    old_sha = ingest_module._sha256(archived)[0]
    track(settings.inbox, sla=np.full(N_POINTS, 0.3), created=DAY + dt.timedelta(3))
    (outcome,) = run(env).outcomes
    assert outcome.action == "replaced" and outcome.destination == archived
    assert ingest_module._sha256(archived)[0] == outcome.sha256 != old_sha
    old, new = ledger.find_inputs(original_name=first.name)
    assert (old.status, new.status) == ("superseded", "ok")
    kept = Path(old.path)  # the replaced file is kept, with a note, outside the archive
    assert kept.parent == settings.quarantine / "20200110"
    assert ingest_module._sha256(kept)[0] == old_sha
    assert "superseded" in Path(str(kept) + ".reason.txt").read_text()


def test_sst_same_name_later_date_created_replaces(env):
    settings, ledger = env
    first = sst(settings.inbox)
    run(env)
    edit(sst(settings.inbox, values=291.0), lambda ds: ds.setncattr(
        "date_created", "2020-01-07T00:00:00Z"))
    (outcome,) = run(env).outcomes
    assert outcome.action == "replaced"
    assert [r.status for r in ledger.find_inputs(original_name=first.name)] == [
        "superseded", "ok"]


def test_later_production_supersedes_and_older_one_is_a_duplicate(env):
    settings, ledger = env
    p1 = track(settings.inbox, production=DAY + dt.timedelta(1))
    run(env)
    p3 = track(settings.inbox, production=DAY + dt.timedelta(3), sla=np.full(N_POINTS, 0.2))
    (outcome,) = run(env).outcomes
    assert outcome.action == "replaced" and p1.name in outcome.reason
    assert [r.original_name for r in ledger.inputs_for_days(DAY, DAY)] == [p3.name]
    assert ledger.find_inputs(original_name=p1.name)[0].status == "superseded"
    # the indexer of the archive agrees with the ledger: the latest production wins
    assert [p.name for p in find_input_files(settings.archive).alongtrack[DAY]] == [p3.name]
    p2 = track(settings.inbox, production=DAY + dt.timedelta(2), sla=np.full(N_POINTS, 0.25))
    (late,) = run(env).outcomes
    assert late.action == "quarantined" and late.reason.startswith("duplicate: ")
    assert p3.name in late.reason
    assert ledger.find_inputs(original_name=p2.name)[0].status == "quarantined"


def test_requarantining_the_same_file_is_a_no_op(env):
    settings, ledger = env
    bad = _corrupt(settings.inbox)
    data = bad.read_bytes()
    first = run(env).outcomes[0]
    bad.write_bytes(data)
    second = run(env).outcomes[0]
    assert second.action == "quarantined" and second.destination == first.destination
    assert len(ledger.find_inputs()) == 1
    assert files_under(settings.inbox) == []
    assert len(files_under(settings.quarantine)) == 2  # the file and its note


# --------------------------------------------------------------------------------------------
# names that try to escape, links, files still arriving, failures


def test_path_escaping_names_stay_in_quarantine(env, tmp_path):
    settings, ledger = env
    good = track(settings.inbox)
    content = good.read_bytes()
    names = ["..\\..\\evil.nc", "..nrt_global_j3_phy_l3_20200105_20200106.nc",
             "a\nb.nc", "x..y.nc"]
    for name in names:
        (settings.inbox / name).write_bytes(content)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = track(outside, mission="s3a")
    (settings.inbox / "link.nc").symlink_to(secret)
    (settings.inbox / "linked-folder").symlink_to(outside, target_is_directory=True)
    report = run(env)
    outcomes = by_name(report)
    assert outcomes[good.name].action == "archived"
    qdir = settings.quarantine / "20200110"
    for name in names:
        outcome = outcomes[name]
        assert outcome.action == "quarantined" and "unsafe file name" in outcome.reason
        assert outcome.destination.parent == qdir
        assert ".." not in outcome.destination.name and "\\" not in outcome.destination.name
    assert "symbolic link" in outcomes["link.nc"].reason
    assert "symbolic link" in outcomes["linked-folder"].reason
    # nothing left the inbox for anywhere but the archive and the quarantine; the link
    # targets are untouched and were never ingested
    assert files_under(outside) == [secret]
    allowed = (settings.archive, settings.quarantine, tmp_path / "state", outside)
    for path in files_under(tmp_path):
        assert any(root in path.parents for root in allowed), path
    assert files_under(settings.inbox) == []
    assert [r.original_name for r in ledger.find_inputs(status="ok")] == [good.name]


def test_destinations_are_checked():
    with pytest.raises(ValueError, match="outside"):
        ingest_module._inside(Path("/srv/archive/../etc/passwd"), Path("/srv/archive"))
    safe = ingest_module._safe_name("..\\..\\evil.nc")
    assert safe.endswith("evil.nc") and ".." not in safe and "\\" not in safe
    assert ingest_module._safe_name(".hidden") == "_hidden"


def test_files_still_arriving_are_left_alone(env):
    settings, _ = env
    good = track(settings.inbox)
    partial = settings.inbox / ".upload.nc.tmp"
    partial.write_bytes(b"half")
    part = settings.inbox / "x.nc.part"
    part.write_bytes(b"half")
    report = run(env)
    assert by_name(report)[partial.name].action == "skipped"
    assert by_name(report)[part.name].action == "skipped"
    assert by_name(report)[good.name].action == "archived"
    assert sorted(files_under(settings.inbox)) == sorted([partial, part])
    young = track(settings.inbox, mission="s3a")
    (outcome,) = [o for o in run(env, min_age_s=3600).outcomes if o.name == young.name]
    assert outcome.action == "skipped" and "still be arriving" in outcome.reason
    assert young.exists()


def test_one_failure_does_not_stop_the_others(env, monkeypatch):
    settings, ledger = env
    a = track(settings.inbox)
    b = track(settings.inbox, mission="s3a")
    real = ingest_module._copy_to_temp

    def flaky(src, folder, name, sha):
        if src.name == a.name:
            raise OSError(28, "No space left on device")
        return real(src, folder, name, sha)

    monkeypatch.setattr(ingest_module, "_copy_to_temp", flaky)
    outcomes = by_name(run(env))
    assert outcomes[a.name].action == "error" and "No space left" in outcomes[a.name].reason
    assert outcomes[b.name].action == "archived"
    assert a.exists()  # left for the next run, nothing recorded
    assert [r.original_name for r in ledger.find_inputs()] == [b.name]
    assert not any(p.name.endswith(".tmp") for p in files_under(settings.archive))
    monkeypatch.setattr(ingest_module, "_copy_to_temp", real)
    assert [o.action for o in run(env).outcomes] == ["archived"]


def test_a_second_ingest_waits_for_the_first(env):
    settings, ledger = env
    lock = InstanceLock(ledger.path.parent / "ingest.lock", "varnet-ops ingest")
    lock.acquire()
    try:
        with pytest.raises(LockHeldError, match="another varnet-ops ingest"):
            ingest(settings, ledger, today=TODAY, lock_timeout_s=0.1)
    finally:
        lock.release()


def test_archived_file_missing_is_archived_again(env):
    settings, ledger = env
    a = track(settings.inbox)
    data = a.read_bytes()
    (archived,) = [o.destination for o in run(env).outcomes]
    os.unlink(archived)
    a.write_bytes(data)
    (outcome,) = run(env).outcomes
    assert outcome.action == "archived" and archived.is_file()
    assert [r.status for r in ledger.find_inputs()] == ["superseded", "ok"]


# --------------------------------------------------------------------------------------------
# input hygiene: size, sparse files, folders named like files, permissions, full disks


def _never(*args, **kwargs):
    raise AssertionError("this entry must not be read")


def _note(dest: Path) -> str:
    return dest.with_name(dest.name + ".reason.txt").read_text()


def test_a_file_over_the_size_limit_is_moved_unread_with_a_note(env, monkeypatch, caplog):
    settings, ledger = env
    good = track(settings.inbox)
    big = settings.inbox / alongtrack_filename("nrt", "s3a", DAY, DAY + dt.timedelta(1))
    big.write_bytes(np.random.default_rng(1).bytes(300_000))
    inode = big.stat().st_ino
    assert good.stat().st_size < 100_000
    real_sha256 = ingest_module._sha256
    monkeypatch.setattr(ingest_module, "_sha256",
                        lambda p: _never() if p.name == big.name else real_sha256(p))
    with caplog.at_level(logging.INFO, logger="varnet.ops.ingest"):
        outcomes = by_name(run(env, max_input_bytes=100_000))
    assert outcomes[good.name].action == "archived"
    outcome = outcomes[big.name]
    assert outcome.action == "quarantined" and outcome.sha256 is None
    dest = settings.quarantine / "20200110" / big.name
    assert outcome.destination == dest and dest.stat().st_ino == inode  # moved, not copied
    note = _note(dest)
    for text in ("too large: 300000 bytes", "limit of 100000 bytes", "production.max_input_mb",
                 "raise production.max_input_mb", "not read nor copied", "size: 300000 bytes"):
        assert text in note, text
    (row,) = ledger.find_inputs(original_name=big.name)
    assert (row.status, row.sha256, row.size, row.path) == (
        "quarantined", ingest_module.UNREAD, 300_000, str(dest))
    assert files_under(settings.inbox) == []
    assert [r.levelno for r in caplog.records if big.name in r.getMessage()] == [
        logging.WARNING]


@pytest.mark.parametrize("limit, expected", [
    (None, "too large: 53687091200 bytes (53.7 GB), above the limit of 2000000000 bytes"),
    (10**12, "sparse file: 53687091200 bytes long"),
])
def test_a_huge_sparse_file_is_moved_at_once_never_hashed_nor_copied(env, monkeypatch, limit,
                                                                     expected):
    settings, ledger = env
    sparse = settings.inbox / alongtrack_filename("nrt", "s3a", DAY, DAY + dt.timedelta(1))
    with open(sparse, "wb") as f:
        f.truncate(50 * 2**30)  # 50 GiB of holes: no disk used
    info = sparse.stat()
    if info.st_blocks * 512 >= info.st_size // 2:
        pytest.skip("this file system does not make sparse files")
    monkeypatch.setattr(ingest_module, "_sha256", _never)
    monkeypatch.setattr(ingest_module, "_copy_to_temp", _never)
    (outcome,) = run(env, **({} if limit is None else {"max_input_bytes": limit})).outcomes
    assert outcome.action == "quarantined" and expected in outcome.reason
    assert outcome.destination.stat().st_ino == info.st_ino
    assert expected in _note(outcome.destination)
    assert ledger.find_inputs(original_name=sparse.name)[0].sha256 == ingest_module.UNREAD
    assert files_under(settings.inbox) == []


def test_a_real_file_is_not_sparse(tmp_path):
    dense = tmp_path / "dense.nc"
    dense.write_bytes(np.random.default_rng(2).bytes(3 * 2**20))
    settings = IngestSettings(inbox=tmp_path, archive=tmp_path / "a", quarantine=tmp_path / "q")
    assert ingest_module._size_problem(dense, dense.lstat(), settings) is None
    small = tmp_path / "small.nc"
    with open(small, "wb") as f:
        f.truncate(2**19)  # sparse, but too small to matter
    assert ingest_module._size_problem(small, small.lstat(), settings) is None


def test_a_file_too_large_with_an_unsafe_name_is_not_read_either(env, monkeypatch):
    settings, _ = env
    odd = settings.inbox / "x..y.nc"
    odd.write_bytes(bytes(5000))
    monkeypatch.setattr(ingest_module, "_sha256", _never)
    (outcome,) = run(env, max_input_bytes=1000).outcomes
    assert outcome.action == "quarantined"
    assert "unsafe file name" in outcome.reason and "too large: 5000 bytes" in outcome.reason


def test_an_unread_entry_stays_in_the_inbox_when_the_quarantine_is_elsewhere(env, monkeypatch,
                                                                             caplog):
    settings, ledger = env
    big = settings.inbox / alongtrack_filename("nrt", "s3a", DAY, DAY + dt.timedelta(1))
    big.write_bytes(bytes(5000))

    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link", str(src), None, str(dst))

    monkeypatch.setattr(os, "rename", cross_device)
    monkeypatch.setattr(ingest_module, "_copy_to_temp", _never)  # never copied densely
    (outcome,) = run(env, max_input_bytes=1000).outcomes
    assert outcome.action == "error"
    assert "too large: 5000 bytes" in outcome.reason
    assert "another file system" in outcome.reason and "left in the inbox" in outcome.reason
    assert big.exists()
    assert files_under(settings.quarantine) == []  # no note without its file
    assert ledger.find_inputs() == []
    assert any(r.levelno == logging.ERROR and big.name in r.getMessage()
               for r in caplog.records)


def test_hashing_a_large_file_is_announced(env, monkeypatch, caplog):
    settings, _ = env
    good = track(settings.inbox)
    monkeypatch.setattr(ingest_module, "_HASH_LOG_BYTES", 1000)
    with caplog.at_level(logging.INFO, logger="varnet.ops.ingest"):
        run(env)
    messages = [r.getMessage() for r in caplog.records]
    hashing = [i for i, m in enumerate(messages) if m.startswith(f"hashing {good.name} (")]
    archived = [i for i, m in enumerate(messages) if m.startswith(f"archived {good.name}")]
    assert hashing and archived and hashing[0] < archived[0]


@pytest.mark.parametrize("name", [
    "nrt_global_j3_phy_l3_20230101_20230102.nc",
    "dt_gulfstream_alg_phy_l3_20161201-20180131_285-315_23-53.nc",
    "20200105120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc",
])
def test_a_folder_named_like_an_observation_file_is_quarantined_whole(env, name):
    settings, ledger = env
    folder = settings.inbox / name
    folder.mkdir()
    inside = track(folder)  # a good file, but inside a folder that pretends to be a file
    (settings.inbox / "sub").mkdir()  # other sub-folders are searched as before
    other = track(settings.inbox / "sub", mission="s3a")
    outcomes = by_name(run(env))
    assert outcomes[other.name].action == "archived"
    assert inside.name not in outcomes
    outcome = outcomes[name]
    assert outcome.action == "quarantined"
    assert outcome.reason.startswith("a directory named like an observation file")
    dest = settings.quarantine / "20200110" / name
    assert outcome.destination == dest and dest.is_dir()
    assert (dest / inside.name).is_file()  # moved whole, untouched
    assert "a directory named like an observation file" in _note(dest)
    (row,) = ledger.find_inputs(original_name=name)
    assert row.status == "quarantined" and row.sha256 == ingest_module.UNREAD
    assert not folder.exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("mode, expected", [(0o600, 0o600), (0o640, 0o640), (0o644, 0o644),
                                            (0o666, 0o644), (0o755, 0o644), (0o400, 0o600)])
def test_copies_keep_the_read_permissions_of_the_delivered_file(env, mode, expected):
    settings, _ = env
    good = track(settings.inbox)
    bad = _corrupt(settings.inbox)
    for path in (good, bad):
        path.chmod(mode)
    outcomes = by_name(run(env))
    archived, quarantined = outcomes[good.name], outcomes[bad.name]
    assert (archived.action, quarantined.action) == ("archived", "quarantined")
    for outcome in (archived, quarantined):
        assert stat_mode(outcome.destination) == expected & ~_umask(), outcome


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_a_split_extraction_keeps_the_permissions_of_the_extraction(env):
    settings, _ = env
    days = [DAY - dt.timedelta(1), DAY]
    times = np.concatenate([np.datetime64(d.isoformat(), "m") + np.arange(15) * np.timedelta64(
        60, "m") for d in days])
    extraction = track(settings.inbox, times=times, product="dt",
                       name="dt_gulfstream_j3_phy_l3_20200104-20200105_285-315_23-53.nc")
    extraction.chmod(0o600)
    report = run(env)
    assert [o.action for o in report.outcomes] == ["archived", "archived"]
    assert all(stat_mode(o.destination) == 0o600 for o in report.outcomes)


# --------------------------------------------------------------------------------------------
# a full disk says so


def _enospc_on_temporaries(monkeypatch, folder: Path) -> None:
    """``os.write`` fails with ENOSPC on the hidden temporary files under ``folder``."""
    real = os.write

    def write(fd, data):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.startswith(str(folder)) and target.endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("where", ["archive", "quarantine"])
def test_a_full_disk_says_no_space_left_and_leaves_the_file_in_the_inbox(env, monkeypatch,
                                                                         caplog, where):
    settings, ledger = env
    path = track(settings.inbox) if where == "archive" else _corrupt(settings.inbox)
    _enospc_on_temporaries(monkeypatch, getattr(settings, where))
    (outcome,) = run(env).outcomes
    assert outcome.action == "error"
    folder = (settings.archive / "alongtrack" / "2020" / "01" if where == "archive"
              else settings.quarantine / "20200110")
    assert f"no space left on device in {folder} (copying {path.name}" in outcome.reason
    assert "Permission denied" not in outcome.reason
    assert path.exists()  # left for the next run
    assert ledger.find_inputs() == []
    for root in (settings.archive, settings.quarantine):  # nothing half-written left
        assert not [p for p in files_under(root) if p.name.endswith(".tmp")]
    assert any("no space left on device" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert [o.action for o in run(env).outcomes] == [
        "archived" if where == "archive" else "quarantined"]


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_full_ledger_disk_says_no_space_left(env, monkeypatch, wrapped):
    settings, ledger = env
    path = track(settings.inbox)

    def full(*args, **kwargs):
        error = sqlite3.OperationalError("database or disk is full")
        if not wrapped:
            raise error
        raise LedgerError(f"{ledger.path}: the ledger failed ({error})") from error

    monkeypatch.setattr(ledger, "record_input", full)
    (outcome,) = run(env).outcomes
    assert outcome.action == "error"
    assert f"no space left on device in {ledger.path.parent}" in outcome.reason
    assert path.exists()
    assert files_under(settings.archive) == []


def test_atomic_writes_on_a_full_disk_say_so_and_leave_nothing(tmp_path):
    target = tmp_path / "out" / "status.json"
    target.parent.mkdir()
    target.write_text("previous")
    with pytest.raises(NoSpaceError, match=re.escape(
            f"no space left on device in {target.parent} (writing status.json)")) as caught:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert caught.value.one_line().startswith("error: no space left on device in ")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in target.parent.iterdir()) == ["status.json"]


def test_netcdf_permission_denied_on_a_full_disk_is_no_space(tmp_path, monkeypatch):
    """netCDF-C reports any failure of HDF5 to create a file, a full disk too, as EACCES."""
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(atomic_module.netCDF4, "Dataset", denied)
    real_statvfs = os.statvfs
    full = {"on": True}

    def statvfs(path):
        st = real_statvfs(path)
        return os.statvfs_result((st.f_bsize, st.f_frsize, st.f_blocks, 0, 0, st.f_files,
                                  st.f_ffree, st.f_favail, st.f_flag, st.f_namemax)
                                 ) if full["on"] else st

    monkeypatch.setattr(os, "statvfs", statvfs)
    with pytest.raises(NoSpaceError, match=re.escape(
            f"no space left on device in {tmp_path} (writing product.nc): 0 bytes free")):
        with atomic_dataset(tmp_path / "product.nc"):
            pass
    full["on"] = False  # space enough: a real permission problem stays one
    with pytest.raises(PermissionError, match="Permission denied"):
        with atomic_dataset(tmp_path / "product.nc"):
            pass
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# folders: never created on the fly; `varnet-ops init` creates them


def test_a_missing_folder_is_an_error_naming_its_key(env, tmp_path):
    settings, _ = env
    track(settings.inbox)
    for key in ("inbox", "archive", "quarantine"):
        missing = tmp_path / f"typo-{key}"
        with pytest.raises(ConfigError, match=re.escape(
                f"paths.{key}: folder {missing} does not exist; create it with "
                "`varnet-ops init --config")):
            run(env, **{key: missing})
        assert not missing.exists()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ConfigError, match=r"paths\.archive: folder .* is not a folder"):
        run(env, archive=not_a_folder)
    assert len(files_under(settings.inbox)) == 1  # nothing was done
    report = run(env, archive=tmp_path / "made" / "archive", create_missing=True)
    assert [o.action for o in report.outcomes] == ["archived"]
    assert (tmp_path / "made" / "archive").is_dir()


def _ops_config(tmp_path: Path, **paths: object) -> Path:
    config = {
        "name": "test",
        "region": {"lat_min": 32.05, "lon_min": -65.95, "resolution_deg": 0.1, "nlat": 20,
                   "nlon": 20},
        "model": {"path": "m.onnx"},
        "paths": {"inbox": "ops/in", "archive": "ops/arch", "quarantine": "ops/q",
                  "products": "ops/p", "state": "ops/state", **paths},
    }
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "ops.toml"
    path.write_text(dump_toml(config))
    return path


def test_ingest_of_a_configuration_checks_every_folder_before_anything(tmp_path):
    config = load_ops_config(_ops_config(tmp_path))
    with pytest.raises(ConfigError, match=r"paths.inbox: folder .*ops/in does not exist"):
        ingest(config, today=TODAY)
    assert not (tmp_path / "ops").exists()  # no ledger, no lock, no folder made
    create_folders(config)
    os.rmdir(config.paths.products)
    with pytest.raises(ConfigError, match=r"paths.products: folder .*ops/p does not exist"):
        ingest(config, today=TODAY)
    created = load_ops_config(_ops_config(tmp_path / "auto", create_missing=True))
    assert ingest(created, today=TODAY).outcomes == ()
    assert all(Path(getattr(created.paths, k)).is_dir()
               for k in ("inbox", "archive", "quarantine", "products", "state"))


def test_varnet_ops_init_creates_the_folders_and_ingest_then_runs(tmp_path):
    from click.testing import CliRunner

    from varnet.operational import cli

    toml = _ops_config(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli.main, ["ingest", "--config", str(toml), "--quiet"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: configuration: {toml}: paths.inbox: folder "
                           f"{tmp_path}/ops/in does not exist; create it with `varnet-ops init "
                           "--config")
    result = runner.invoke(cli.main, ["init", "--config", str(toml)])
    assert result.exit_code == 0, result.output
    for key in ("inbox", "archive", "quarantine", "products"):
        assert f"created paths.{key}" in result.output
    assert result.output.count("created paths.") + result.output.count("exists  paths.") == 5
    assert (tmp_path / "ops" / "state").is_dir() and (tmp_path / "ops" / "in").is_dir()
    again = runner.invoke(cli.main, ["init", "--config", str(toml)])
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert again.output.count("exists  paths.") == 5
    track(tmp_path / "ops" / "in")
    result = runner.invoke(cli.main, ["ingest", "--config", str(toml), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1 file: 1 archived" in result.output or "1 file: 1 quarantined" in result.output
    (tmp_path / "ops" / "p").rmdir()
    (tmp_path / "ops" / "p").write_text("")
    bad = runner.invoke(cli.main, ["init", "--config", str(toml)])
    assert bad.exit_code == 2 and "paths.products: folder" in bad.output
    assert "is not a folder" in bad.output


def test_the_new_keys_are_checked_and_reach_ingest(tmp_path):
    config = load_ops_config(_ops_config(tmp_path))
    assert config.paths.create_missing is False
    assert config.production.max_input_mb == 2000
    settings = IngestSettings.from_config(config)
    assert settings.max_input_bytes == 2 * 10**9 == ingest_module.DEFAULT_MAX_INPUT_BYTES
    assert settings.create_missing is False
    path = _ops_config(tmp_path)
    text = path.read_text() + "\n[production]\nmax_input_mb = 0\n"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"production.max_input_mb: must be >= 1 MB, got 0"):
        load_ops_config(path)
    for name in ("ops-demo.toml", "ops-demo-nrt.toml"):
        demo = load_ops_config(Path(__file__).resolve().parents[2] / "configs" / name)
        assert demo.production.max_input_mb == 2000 and demo.paths.create_missing is False


def test_varnet_ops_ingest_creates_nothing_when_a_folder_is_missing(tmp_path):
    from click.testing import CliRunner

    from varnet.operational import cli

    toml = _ops_config(tmp_path)
    result = CliRunner().invoke(cli.main, ["ingest", "--config", str(toml), "--quiet"])
    assert result.exit_code == 2
    assert not (tmp_path / "ops").exists()

"""The observation-kind registry: its API, the built-in kinds' rules, and a new kind added
without touching any other module (the toy drifter kind defined here)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from varnet.datamodel import gridding
from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.files import find_input_files, read_alongtrack_files
from varnet.datamodel.grid import Grid
from varnet.datamodel.kinds import (
    GriddingOptions,
    Identity,
    KindOptions,
    ObservationFile,
    ObservationKind,
    UnknownKindError,
    choose,
    register,
    unregister,
)
from varnet.datamodel.kinds.alongtrack import AlongTrackKind
from varnet.datamodel.kinds.ghrsst import GhrsstKind
from varnet.io.names import alongtrack_filename, ghrsst_filename
from varnet.io.readers import InputFileError, read_alongtrack, read_sst
from varnet.io.writers import write_alongtrack
from varnet.kernels.binning import grid_daily
from varnet.kernels.oi import OIConfig
from varnet.operational.ingest import IngestSettings, ingest
from varnet.operational.ledger import Ledger

TODAY = dt.date(2020, 1, 10)
DAY = dt.date(2020, 1, 5)
START = dt.date(2012, 10, 1)  # first day of configs/osse-tiny.toml
CHEAP_OI = OIConfig(time_scale_days=2.0)


# --------------------------------------------------------------------------------------------
# a new kind: everything it needs is here (plus one registration line in a real module)


@dataclass(frozen=True)
class DrifterDay:
    """One day of one drifter: positions (degrees) and velocities (m/s)."""

    day: dt.date
    lat: np.ndarray
    lon: np.ndarray
    u: np.ndarray
    v: np.ndarray


_DRIFTER_RE = re.compile(
    r"^drifter_(?P<platform>[a-z0-9]+)_(?P<day>\d{8})_(?P<production>\d{8})\.csv$")


class DrifterKind(ObservationKind):
    """Toy drifter velocities: one CSV per platform and data day, named
    ``drifter_{platform}_{YYYYMMDD}_{YYYYMMDD}.csv`` (data day, production day), a header
    line then rows ``hours,lat,lon,u,v`` (hours since 00:00 UTC, degrees, m/s)."""

    name = "drifter"
    expected_name = "a drifter name drifter_{platform}_{YYYYMMDD}_{YYYYMMDD}.csv"
    outputs = ("drifter_u", "drifter_v")

    def identify_name(self, name: str) -> Identity | None:
        m = _DRIFTER_RE.match(name)
        if m is None:
            return None
        day, production = (dt.datetime.strptime(m[k], "%Y%m%d").date()
                           for k in ("day", "production"))
        return Identity(kind=self.name, data_day=day, mission=m["platform"],
                        production_day=production)

    def content_problem(self, path: Path, identity: Identity,
                        options: KindOptions) -> str | None:
        rows = _rows(path)
        if not ((rows[:, 0] >= 0) & (rows[:, 0] < 24)).all():
            return f"out of window: times outside the data day {identity.data_day}"
        if not np.isfinite(rows[:, 3:]).any():
            return "no data: every velocity is missing"
        return None

    def read(self, path: Path, options: KindOptions) -> DrifterDay:
        rows = _rows(path)
        day = self.identify_name(path.name).data_day
        return DrifterDay(day, rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4])

    def grid(self, data: Sequence[DrifterDay], grid: Grid, days: Sequence[dt.date],
             gridding: GriddingOptions) -> dict[str, np.ndarray]:
        days = list(days)
        out = {}
        for var in ("u", "v"):
            field = np.full((len(days), *grid.shape), np.nan, dtype=np.float32)
            for d in data:
                if d.day in days:
                    noon = np.full(d.lat.size, np.datetime64(d.day, "ns") + np.timedelta64(12, "h"))
                    mean, _ = grid_daily(noon, d.lat, d.lon, getattr(d, var), grid.lat,
                                         grid.lon, d.day, 1)
                    field[days.index(d.day)] = grid.mask_land(mean[0].astype(np.float32))
            out[f"drifter_{var}"] = field
        return out


def _rows(path: Path) -> np.ndarray:
    try:
        rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        raise InputFileError(path, f"not a drifter CSV (hours,lat,lon,u,v): {exc}") from None
    if rows.shape[1] != 5:
        raise InputFileError(path, f"expected 5 columns (hours,lat,lon,u,v), got {rows.shape[1]}")
    return rows


# --------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def drifter():
    kind = register(DrifterKind())
    yield kind
    unregister(kind.name)


def drifter_file(folder: Path, *, platform: str = "41001", day: dt.date = DAY,
                 production: dt.date | None = None, hours: np.ndarray | None = None,
                 u: float = 0.2) -> Path:
    production = production or day + dt.timedelta(days=1)
    hours = np.arange(0.5, 24.0, 6.0) if hours is None else hours
    lat = 32.0 + 0.1 * np.arange(hours.size)
    lon = -64.0 + 0.1 * np.arange(hours.size)
    path = folder / f"drifter_{platform}_{day:%Y%m%d}_{production:%Y%m%d}.csv"
    rows = "\n".join(f"{h},{la},{lo},{u + 0.01 * k},{-u}" for k, (h, la, lo) in
                     enumerate(zip(hours, lat, lon, strict=True)))
    path.write_text("hours,lat,lon,u,v\n" + rows + "\n")
    return path


def track_file(folder: Path, *, mission: str = "j3", day: dt.date = DAY,
               production: dt.date | None = None, product: str = "nrt") -> Path:
    production = production or day + dt.timedelta(days=1)
    n = 20
    times = np.datetime64(day.isoformat(), "m") + np.arange(n) * np.timedelta64(60, "m")
    return write_alongtrack(
        folder / alongtrack_filename(product, mission, day, production), time=times,
        longitude=np.linspace(-65.0, -60.0, n), latitude=np.linspace(32.0, 35.0, n),
        sla_unfiltered=None, sla_filtered=0.1 + 0.01 * np.sin(np.arange(n)), mdt=None,
        mission=mission, product=product, production_day=production)


@pytest.fixture
def env(tmp_path):
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine")
    for folder in (settings.inbox, settings.archive, settings.quarantine):
        folder.mkdir()
    with Ledger(tmp_path / "state" / "ledger.sqlite") as ledger:
        yield settings, ledger


# --------------------------------------------------------------------------------------------
# the proof: a new kind, defined in this module, is ingested, recorded and found


def test_a_new_kind_is_archived_recorded_ordered_and_found(env, drifter):
    settings, ledger = env
    p1 = drifter_file(settings.inbox)
    track = track_file(settings.inbox)
    report = ingest(settings, ledger, today=TODAY)
    outcomes = {o.name: o for o in report.outcomes}
    assert outcomes[track.name].action == "archived"
    first = outcomes[p1.name]
    folder = settings.archive / "drifter" / "2020" / "01"
    assert (first.action, first.kind, first.mission) == ("archived", "drifter", "41001")
    assert first.destination == folder / p1.name and first.destination.is_file()
    (row,) = ledger.find_inputs(kind="drifter")
    assert (row.status, row.mission, row.data_day, row.production_day) == (
        "ok", "41001", DAY, DAY + dt.timedelta(days=1))

    # the newest production wins: a later one replaces it, an earlier one is a duplicate
    p3 = drifter_file(settings.inbox, production=DAY + dt.timedelta(days=3), u=0.3)
    (later,) = ingest(settings, ledger, today=TODAY).outcomes
    assert later.action == "replaced" and p1.name in later.reason
    p2 = drifter_file(settings.inbox, production=DAY + dt.timedelta(days=2), u=0.25)
    (earlier,) = ingest(settings, ledger, today=TODAY).outcomes
    assert earlier.action == "quarantined" and earlier.reason.startswith("duplicate: ")
    assert p3.name in earlier.reason
    assert [r.original_name for r in ledger.inputs_for_days(DAY, DAY, kind="drifter")] == [
        p3.name]
    assert ledger.find_inputs(original_name=p2.name)[0].status == "quarantined"

    # its checks quarantine a bad file with their reason; the days are checked by ingest
    bad = drifter_file(settings.inbox, platform="41002", hours=np.array([3.0, 25.0]))
    future = drifter_file(settings.inbox, platform="41003", day=TODAY + dt.timedelta(days=1),
                          production=TODAY + dt.timedelta(days=1))
    outcomes = {o.name: o for o in ingest(settings, ledger, today=TODAY).outcomes}
    assert outcomes[bad.name].action == "quarantined"
    assert outcomes[bad.name].reason == "out of window: times outside the data day 2020-01-05"
    assert "data day 2020-01-11 is in the future" in outcomes[future.name].reason

    # the archive's indexer finds it (the latest production; p1 stays in the archive under
    # its own name, as the later along-track productions do)
    found = find_input_files(settings.archive)
    assert (folder / p1.name).is_file()
    assert found.by_day("drifter") == {DAY: [folder / p3.name]}
    assert found.paths("drifter") == [folder / p3.name]
    assert [p.name for p in found.alongtrack[DAY]] == [track.name]
    assert found.sst == {}

    # and grids it onto a Grid
    grid = Grid.regular(31.95, -64.05, 0.1, (10, 10))
    got = drifter.model_inputs(found.paths("drifter"), grid, [DAY - dt.timedelta(1), DAY])
    assert set(got) == set(drifter.outputs)
    assert np.isnan(got["drifter_u"][0]).all()
    assert np.nanmax(got["drifter_u"][1]) == pytest.approx(0.33, abs=1e-6)
    assert np.nanmin(got["drifter_v"][1]) == pytest.approx(-0.3, abs=1e-6)


def test_the_new_kind_joins_the_unrecognised_message_and_folder_names(env, drifter):
    settings, ledger = env
    (settings.inbox / "notes.csv").write_text("hello\n")
    folder = settings.inbox / "drifter_41001_20200105_20200106.csv"
    folder.mkdir()
    outcomes = {o.name: o for o in ingest(settings, ledger, today=TODAY).outcomes}
    reason = outcomes["notes.csv"].reason
    assert reason.startswith("unrecognised file name; expected a CMEMS L3 along-track name ")
    assert ", a GHRSST name " in reason and " or a drifter name drifter_{platform}" in reason
    assert "the content is not an L3 along-track file" in reason
    assert outcomes[folder.name].reason.startswith("a directory named like an observation file")


def test_without_the_new_kind_its_files_are_unrecognised(env):
    settings, ledger = env
    path = drifter_file(settings.inbox)
    (outcome,) = ingest(settings, ledger, today=TODAY).outcomes
    assert outcome.action == "quarantined" and outcome.kind == "unknown"
    assert outcome.reason.startswith("unrecognised file name; expected a CMEMS L3 along-track "
                                     "name ")
    assert "drifter" not in outcome.reason.split(";")[0]
    assert ledger.find_inputs(original_name=path.name)[0].kind == "unknown"


# --------------------------------------------------------------------------------------------
# the registry


def test_the_built_in_kinds_in_their_order():
    assert observation_kinds.names() == ("alongtrack", "sst")
    assert [type(k) for k in observation_kinds.kinds()] == [AlongTrackKind, GhrsstKind]
    assert observation_kinds.BUILTIN_KINDS == ("alongtrack:AlongTrackKind", "ghrsst:GhrsstKind")
    assert observation_kinds.get("alongtrack").outputs == ("obs", "oi", "oi_error_variance")
    assert observation_kinds.get("sst").outputs == ("sst",)


def test_registering_checks_the_name_and_unregistering_restores(drifter):
    assert observation_kinds.names() == ("alongtrack", "sst", "drifter")
    with pytest.raises(ValueError, match="already registered"):
        register(DrifterKind())
    assert register(DrifterKind(), replace=True).name == "drifter"
    for bad in ("unknown", "Drifter", "", "a/b"):
        kind = type("Bad", (DrifterKind,), {"name": bad})()
        with pytest.raises(ValueError, match="short lower-case name"):
            register(kind)
    with pytest.raises(TypeError, match="ObservationKind"):
        register("drifter")
    with pytest.raises(UnknownKindError, match="no observation kind 'swot'; the kinds are "
                       "alongtrack, sst, drifter"):
        observation_kinds.get("swot")


def test_a_kind_must_implement_its_own_parts():
    class Half(ObservationKind):
        name = "half"

        def identify_name(self, name):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half()


@pytest.mark.parametrize(("name", "expected"), [
    ("nrt_global_j3n_phy_l3_1hz_20230101_20230107.nc",
     Identity("alongtrack", dt.date(2023, 1, 1), mission="j3n", product="nrt",
              production_day=dt.date(2023, 1, 7))),
    ("dt_europe_s6a_hr_phy_vfec_l3_20190101_20190301.nc",
     Identity("alongtrack", dt.date(2019, 1, 1), mission="s6a_hr", product="dt",
              production_day=dt.date(2019, 3, 1))),
    ("dt_gulfstream_alg_phy_l3_20161201-20180131_285-315_23-53.nc",
     Identity("alongtrack", dt.date(2016, 12, 1), mission="alg", product="dt",
              last_day=dt.date(2018, 1, 31))),
    ("20200105120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc",
     Identity("sst", dt.date(2020, 1, 5), level="L4")),
    ("notes.nc", None),
    ("truth.nc", None),
])
def test_every_name_form_is_recognised_by_its_kind(name, expected):
    assert observation_kinds.identify_name(name) == expected


def test_identities_describe_themselves_as_ingest_always_did():
    track = Identity("alongtrack", DAY, mission="j3", how="day 2020-01-05 of the extraction x")
    assert track.describe() == ("alongtrack mission j3, data day 2020-01-05 (day 2020-01-05 "
                                "of the extraction x)")
    assert Identity("sst", DAY, level="L4").describe() == "sst level L4, data day 2020-01-05"
    assert Identity("alongtrack", DAY, last_day=DAY).daily
    assert not Identity("alongtrack", DAY, last_day=TODAY).daily


# --------------------------------------------------------------------------------------------
# ordering: the newest production wins


def _track(mission: str, production: int, product: str = "nrt", created: str | None = None,
           day: dt.date = DAY) -> ObservationFile:
    name = alongtrack_filename(product, mission, day, DAY + dt.timedelta(days=production))
    return ObservationFile("alongtrack", name, day, mission=mission,
                           production_day=DAY + dt.timedelta(days=production), created=created)


def test_along_track_keeps_the_newest_production_of_each_mission_and_day():
    kind = observation_kinds.get("alongtrack")
    files = [_track("j3", 1), _track("j3", 3), _track("j3", 3, "dt"), _track("j3", 2),
             _track("s3a", 1), _track("s3a", 1, created="2020-01-07T00:00:00Z"),
             _track("j3", 1, day=TODAY)]
    choice = choose(kind, files, KindOptions())
    assert choice.chosen == [files[2], files[5], files[6]]
    assert choice.ties == []
    only = choose(kind, files, KindOptions(missions=("s3a",)))
    assert only.chosen == [files[5]]
    twins = choose(kind, [files[0], files[0]], KindOptions())
    assert twins.chosen == [files[0]] and twins.ties == [(files[0], files[0])]
    assert kind.production_order(files[2]) > kind.production_order(files[1])
    assert kind.production_order(files[5]) > kind.production_order(files[4])


def test_sst_takes_the_preferred_level_of_each_day_and_the_first_of_equals():
    kind = observation_kinds.get("sst")
    names = [ghrsst_filename(DAY, "L3S"), ghrsst_filename(DAY, "L4"),
             "20200105120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc",
             ghrsst_filename(TODAY, "L3S")]
    files = [ObservationFile("sst", n, observation_kinds.identify_name(n).data_day,
                             level=observation_kinds.identify_name(n).level) for n in names]
    choice = choose(kind, files, KindOptions())
    assert choice.chosen == [files[1], files[3]]
    assert choice.ties == [(files[1], files[2])]
    assert kind.tie_label(files[1]) == "L4 SST files for 2020-01-05"
    l3 = choose(kind, files, KindOptions(sst_levels=("L3S",)))
    assert l3.chosen == [files[0], files[3]]
    # ingest: the same name is the same data, the later date_created wins
    a = ObservationFile("sst", names[1], DAY, level="L4", created="2020-01-06T00:00:00Z")
    b = ObservationFile("sst", names[1], DAY, level="L4", created="2020-01-07T00:00:00Z")
    assert kind.slot(a) == kind.slot(b) != kind.slot(files[2])
    assert kind.production_order(b) > kind.production_order(a)


def test_find_input_files_warns_about_identical_sst_candidates(tmp_path, tiny_ocean, caplog):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(tiny_ocean.sst_l4[0], tmp_path / sub / tiny_ocean.sst_l4[0].name)
    with caplog.at_level(logging.WARNING, logger="varnet.datamodel.files"):
        found = find_input_files(tmp_path)
    assert list(found.sst.values()) == [tmp_path / "a" / tiny_ocean.sst_l4[0].name]
    assert f"two L4 SST files for {START}: using {tmp_path / 'a'}" in caplog.text


# --------------------------------------------------------------------------------------------
# reading and gridding: the kinds call the shared gridding, bit for bit


def test_the_kinds_grid_exactly_as_the_shared_functions(tiny_ocean):
    files = find_input_files(tiny_ocean.out_dir)
    fine = read_sst(tiny_ocean.sst_l4[0])
    grid = Grid(fine.lat, fine.lon).coarsened(2)
    days = [START + dt.timedelta(days=k) for k in range(3, 6)]
    alongtrack = observation_kinds.get("alongtrack")
    paths = files.alongtrack_paths([START + dt.timedelta(days=k) for k in range(2, 7)])
    got = alongtrack.model_inputs(paths, grid, days, gridding=GriddingOptions(oi=CHEAP_OI))
    track = read_alongtrack_files(paths)
    np.testing.assert_array_equal(got["obs"], gridding.gridded_ssh_observations(
        track, grid, days[0], len(days)))
    oi, variance = gridding.oi_first_guess(track, grid, days, CHEAP_OI)
    np.testing.assert_array_equal(got["oi"], oi)
    np.testing.assert_array_equal(got["oi_error_variance"], variance)
    assert set(alongtrack.model_inputs(paths, grid, days)) == {"obs"}  # no OI asked

    sst = observation_kinds.get("sst")
    ssts = [files.sst[d] for d in days[:2]]
    got = sst.model_inputs(ssts, grid, days)["sst"]
    for k, path in enumerate(ssts):
        np.testing.assert_array_equal(got[k], gridding.sst_on_grid(read_sst(path), grid))
    assert np.isnan(got[2]).all()
    assert len(alongtrack.read(paths[0], KindOptions())) == len(read_alongtrack(paths[0]))

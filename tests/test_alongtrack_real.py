"""CMEMS L3 along-track files as users get them today: every current name form and mission code,
the real 1 Hz header layout, files identified by their content, extractions over a period.

The replicas are built from the published header of SEALEVEL_GLO_PHY_L3_NRT_008_044 1 Hz files
(``time`` double days since 1950-01-01; ``longitude``/``latitude`` int32 scale 1e-6, longitude
in [0, 360); ``sla_filtered``, ``sla_unfiltered``, ``dac``, ``ocean_tide``, ``internal_tide``,
``lwe``, ``mdt`` int16 scale 1e-3 with ``_FillValue`` 32767; ``cycle``, ``track`` int16; a
scalar ``tpa_correction``; CF-1.6 global attributes with ``platform`` a platform name).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from varnet.datamodel.files import find_input_files, read_alongtrack_files
from varnet.io.missions import MISSIONS, mission_from_platform, platform_name
from varnet.io.names import (
    alongtrack_filename,
    parse_alongtrack_extraction,
    parse_alongtrack_filename,
)
from varnet.io.readers import InputFileError, identify_alongtrack, read_alongtrack
from varnet.operational.config import ProductionConfig
from varnet.operational.ingest import IngestSettings, ingest
from varnet.operational.ledger import Ledger

DAY = dt.date(2023, 1, 1)
PRODUCTION = dt.date(2023, 1, 7)
TODAY = dt.date(2023, 2, 1)

#: Today's CMEMS NRT names (008_044), one per mission flying in 2023-2025.
CURRENT = {
    "al": "SARAL/AltiKa", "c2n": "CryoSat-2 New Orbit", "h2b": "HY-2B", "h2c": "HY-2C",
    "j3n": "Jason-3 Interleaved", "s3a": "Sentinel-3A", "s3b": "Sentinel-3B",
    "s6a_hr": "Sentinel-6A HR", "swon": "SWOT Nadir", "swo_hr": "SWOT Nadir",
}


# --------------------------------------------------------------------------------------------
# a replica of a real 1 Hz file


def _times(day: dt.date, n: int, start_s: float = 600.0, step_s: float = 1.0) -> np.ndarray:
    offsets = np.rint((start_s + step_s * np.arange(n)) * 1e6).astype(np.int64)
    return np.datetime64(day.isoformat(), "us") + offsets.astype("timedelta64[us]")


def cmems_l3_1hz(path: Path, *, platform: str = "Jason-3", times: np.ndarray | None = None,
                 n: int = 120, coverage: bool = True, date_created: str = "2023-01-07T09:38:52Z",
                 title: str = "NRT Global Ocean Along track SSALTO/DUACS Sea Surface Height "
                 "L3 product") -> dict[str, np.ndarray]:
    """Write a file with the layout of a real CMEMS L3 1 Hz file; returns the values written
    (decoded, independently of varnet's reader)."""
    if times is None:
        times = _times(DAY, n)
    n = times.size
    rng = np.random.default_rng(3)
    lon = np.mod(-70.0 + 0.06 * np.arange(n), 360.0)          # crosses nothing, 0..360 form
    lat = 30.0 + 0.05 * np.arange(n)
    sla = np.round(rng.normal(0.0, 0.15, n), 3)
    sla[5] = np.nan                                           # one missing point
    mdt = np.round(0.4 + 0.002 * np.arange(n), 3)
    days = (times - np.datetime64("1950-01-01", "us")) / np.timedelta64(1, "D")
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", n)
        t = ds.createVariable("time", "f8", ("time",))
        t.setncatts({"axis": "T", "calendar": "gregorian", "long_name": "Time of measurement",
                     "standard_name": "time", "units": "days since 1950-01-01 00:00:00"})
        t[:] = days
        for name, values, units in (("longitude", lon, "degrees_east"),
                                    ("latitude", lat, "degrees_north")):
            v = ds.createVariable(name, "i4", ("time",))
            v.setncatts({"long_name": f"{name.title()} of measurement", "standard_name": name,
                         "units": units, "scale_factor": 1e-06, "add_offset": 0.0})
            v[:] = values
        columns = {"sla_filtered": sla, "sla_unfiltered": sla, "dac": np.zeros(n),
                   "ocean_tide": np.zeros(n), "internal_tide": np.zeros(n), "lwe": np.zeros(n),
                   "mdt": mdt}
        for name, values in columns.items():
            v = ds.createVariable(name, "i2", ("time",), fill_value=np.int16(32767))
            v.setncatts({"units": "m", "scale_factor": 0.001, "add_offset": 0.0,
                         "coordinates": "longitude latitude"})
            if name.startswith("sla"):
                v.standard_name = "sea_surface_height_above_sea_level"
            elif name == "mdt":
                v.standard_name = "sea_surface_height_above_geoid"
            v[:] = np.ma.masked_array(np.nan_to_num(values), mask=np.isnan(values))
        for name in ("cycle", "track"):
            v = ds.createVariable(name, "i2", ("time",))
            v.setncatts({"long_name": f"{name.title()} the measurement belongs to",
                         "units": "1"})
            v[:] = np.full(n, 12, dtype=np.int16)
        tpa = ds.createVariable("tpa_correction", "f8", ())
        tpa.setncatts({"long_name": "Time and global averaged TOPEX-A correction",
                       "units": "m"})
        tpa.assignValue(0.0)
        attrs = {
            "Conventions": "CF-1.6", "Metadata_Conventions": "Unidata Dataset Discovery v1.0",
            "cdm_data_type": "Swath", "comment": "Sea surface height measured by altimetry",
            "contact": "servicedesk.cmems@mercator-ocean.eu",
            "creator_name": "CMEMS - Sea Level Thematic Assembly Center",
            "date_created": date_created, "date_modified": date_created,
            "history": f"{date_created}: Creation", "institution": "CLS, CNES",
            "platform": platform, "processing_level": "L3", "product_version": "2023",
            "project": "COPERNICUS MARINE ENVIRONMENT MONITORING SERVICE (CMEMS)",
            "references": "http://marine.copernicus.eu", "software_version": "8.2.3",
            "source": "Jason-3 measurements", "summary": title, "title": title,
        }
        if coverage:
            attrs["time_coverage_start"] = f"{np.datetime64(times.min(), 's')}Z"
            attrs["time_coverage_end"] = f"{np.datetime64(times.max(), 's')}Z"
        ds.setncatts(attrs)
    keep = np.isfinite(sla)
    return {"time": times[keep], "lon": np.where(lon[keep] >= 180, lon[keep] - 360, lon[keep]),
            "lat": lat[keep], "sla": sla[keep], "mdt": mdt[keep]}


@pytest.fixture
def env(tmp_path):
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine")
    for folder in (settings.inbox, settings.archive, settings.quarantine):
        folder.mkdir()
    with Ledger(tmp_path / "state" / "ledger.sqlite") as ledger:
        yield settings, ledger


def run(env, **changes):
    import dataclasses

    settings, ledger = env
    return ingest(dataclasses.replace(settings, **changes) if changes else settings, ledger,
                  today=TODAY)


def reason_of(outcome) -> str:
    return Path(str(outcome.destination) + ".reason.txt").read_text()


# --------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize("code", sorted(CURRENT))
def test_todays_names_of_every_current_mission_parse(code):
    name = f"nrt_global_{code}_phy_l3_1hz_20230101_20230107.nc"
    parsed = parse_alongtrack_filename(name)
    assert (parsed.product, parsed.mission, parsed.day, parsed.production, parsed.rate) == (
        "nrt", code, DAY, PRODUCTION, "1hz")
    assert platform_name(code) == CURRENT[code]
    assert alongtrack_filename("nrt", code, DAY, PRODUCTION, rate="1hz") == name


@pytest.mark.parametrize("name, expected", [
    ("dt_global_alg_phy_l3_1hz_20161201_20240205.nc", ("dt", "global", "alg", "1hz")),
    ("dt_global_j2g_phy_l3_20170101_20190101.nc", ("dt", "global", "j2g", None)),
    ("dt_global_e1g_phy_l3_1hz_19940601_20240205.nc", ("dt", "global", "e1g", "1hz")),
    ("nrt_global_s6a_hr_phy_l3_5hz_20230101_20230107.nc", ("nrt", "global", "s6a_hr", "5hz")),
    ("dt_global_j2_phy_vfec_l3_20151026_20170110.nc", ("dt", "global", "j2", None)),
    ("dt_global_g2_sla_vfec_20050101_20140106.nc", ("dt", "global", "g2", None)),
    ("dt_europe_al_phy_l3_20200101_20200105.nc", ("dt", "europe", "al", None)),
    ("nrt_global_tpn_phy_l3_20121001_20121002.nc", ("nrt", "global", "tpn", None)),
])
def test_past_and_regional_name_forms_parse(name, expected):
    parsed = parse_alongtrack_filename(name)
    assert (parsed.product, parsed.area, parsed.mission, parsed.rate) == expected


def test_a_data_challenge_extraction_names_its_period():
    e = parse_alongtrack_extraction("dt_gulfstream_alg_phy_l3_20161201-20180131_285-315_23-53.nc")
    assert (e.product, e.area, e.mission, e.first_day, e.last_day) == (
        "dt", "gulfstream", "alg", dt.date(2016, 12, 1), dt.date(2018, 1, 31))
    with pytest.raises(ValueError, match="not a CMEMS L3 along-track file name"):
        parse_alongtrack_filename("dt_gulfstream_alg_phy_l3_20161201-20180131_285-315_23-53.nc")


def test_platform_names_map_back_to_their_codes():
    for code, name in MISSIONS.items():
        assert mission_from_platform(name) in {c for c, n in MISSIONS.items() if n == name}
        assert mission_from_platform(code) == code
    assert mission_from_platform("JASON-3") == "j3"
    assert mission_from_platform("Sentinel 6A HR") == "s6a_hr"
    assert mission_from_platform("Landsat-8") is None


def test_configured_missions_accept_every_real_code():
    ProductionConfig(missions=tuple(MISSIONS)).validate()
    with pytest.raises(Exception, match=r"missions\[0\]"):
        ProductionConfig(missions=("S6A-HR",)).validate()


# --------------------------------------------------------------------------------------------
# the reader on the real layout


def test_the_reader_decodes_a_real_1hz_layout_exactly(tmp_path):
    path = tmp_path / "nrt_global_j3n_phy_l3_1hz_20230101_20230107.nc"
    written = cmems_l3_1hz(path, platform="Jason-3 Interleaved")
    with netCDF4.Dataset(path) as ds:  # netCDF4's own CF decoding, the independent reference
        ref_sla = ds["sla_filtered"][:]
        ref_lon = ds["longitude"][:]
    track = read_alongtrack(path)
    keep = ~np.ma.getmaskarray(ref_sla)
    np.testing.assert_allclose(track.sla, np.asarray(ref_sla[keep]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(track.longitude, np.where(ref_lon[keep] >= 180,
                                                         ref_lon[keep] - 360, ref_lon[keep]),
                               atol=1e-9)
    np.testing.assert_allclose(track.mdt, written["mdt"], atol=1e-9)
    assert (track.time == written["time"].astype("datetime64[ns]")).all()
    assert set(track.mission) == {"j3n"}


def test_a_time_outside_the_named_day_is_refused_even_without_a_name(tmp_path):
    late = _times(DAY, 50, start_s=86_000.0, step_s=10.0)   # runs into the next day
    named = tmp_path / "nrt_global_s3a_phy_l3_1hz_20230101_20230107.nc"
    cmems_l3_1hz(named, platform="Sentinel-3A", times=late, coverage=False)
    with pytest.raises(InputFileError, match="outside the data day 2023-01-01 named in the"):
        read_alongtrack(named)
    unnamed = tmp_path / "s3a_pass.nc"
    cmems_l3_1hz(unnamed, platform="Sentinel-3A", times=late)
    with netCDF4.Dataset(unnamed, "a") as ds:      # coverage claims one day, times run over
        ds.time_coverage_end = "2023-01-01T23:59:59Z"
    with pytest.raises(InputFileError, match="time_coverage_start/time_coverage_end"):
        read_alongtrack(unnamed)


def test_a_file_is_identified_by_its_content_when_its_name_says_nothing(tmp_path):
    path = tmp_path / "download (3).nc"
    cmems_l3_1hz(path, platform="Sentinel-6A HR")
    identity = identify_alongtrack(path)
    assert (identity.source, identity.mission, identity.first_day, identity.last_day,
            identity.production, identity.product) == (
        "content", "s6a_hr", DAY, DAY, PRODUCTION, "nrt")
    assert set(read_alongtrack(path).mission) == {"s6a_hr"}


# --------------------------------------------------------------------------------------------
# ingest


def test_ingest_archives_todays_files_of_every_current_mission(env):
    settings, _ = env
    for code, platform in CURRENT.items():
        cmems_l3_1hz(settings.inbox / f"nrt_global_{code}_phy_l3_1hz_20230101_20230107.nc",
                     platform=platform, title=f"NRT {code} Global Ocean Along track L3 product")
    report = run(env, missions=tuple(CURRENT))
    assert [o.action for o in report.outcomes] == ["archived"] * len(CURRENT), [
        (o.name, o.reason) for o in report.outcomes]
    assert sorted(o.mission for o in report.outcomes) == sorted(CURRENT)
    files = find_input_files(settings.archive)
    assert files.missions == sorted(CURRENT)
    track = read_alongtrack_files(files.alongtrack_paths([DAY]))
    assert len(track) == len(CURRENT) * 119 and set(track.mission) == set(CURRENT)


def test_ingest_refuses_a_mission_not_configured_naming_it(env):
    settings, _ = env
    cmems_l3_1hz(settings.inbox / "nrt_global_h2b_phy_l3_1hz_20230101_20230107.nc",
                 platform="HY-2B")
    (outcome,) = run(env, missions=("j3n", "s6a_hr")).outcomes
    assert outcome.action == "quarantined"
    assert "mission 'h2b' is not accepted" in reason_of(outcome)


def test_ingest_files_a_renamed_file_under_its_cmems_name(env):
    settings, ledger = env
    cmems_l3_1hz(settings.inbox / "jason3_20230101.nc", platform="Jason-3")
    (outcome,) = run(env).outcomes
    assert outcome.action == "archived", outcome.reason
    assert outcome.destination.name == "nrt_global_j3_phy_l3_20230101_20230107.nc"
    (record,) = ledger.find_inputs(kind="alongtrack", status="ok")
    assert (record.original_name, record.mission, record.data_day, record.production_day) == (
        "jason3_20230101.nc", "j3", DAY, PRODUCTION)
    # the properly named delayed-time file of the same day replaces it later
    cmems_l3_1hz(settings.inbox / "dt_global_j3_phy_l3_1hz_20230101_20230120.nc",
                 platform="Jason-3", date_created="2023-01-20T00:00:00Z")
    (later,) = run(env).outcomes
    assert later.action == "replaced"


def test_ingest_quarantines_an_unknown_platform_saying_why(env):
    settings, _ = env
    cmems_l3_1hz(settings.inbox / "pass.nc", platform="Landsat-8")
    (outcome,) = run(env).outcomes
    assert outcome.action == "quarantined"
    note = reason_of(outcome)
    assert "platform attribute 'Landsat-8' names no known altimeter" in note


def test_ingest_splits_a_data_challenge_extraction_into_daily_files(env):
    settings, ledger = env
    first = dt.date(2016, 12, 1)
    times = np.concatenate([_times(first + dt.timedelta(days=k), 40, start_s=3600.0 * k)
                            for k in (0, 1, 3)])       # no pass on the 3rd
    name = "dt_gulfstream_alg_phy_l3_20161201-20161204_285-315_23-53.nc"
    written = cmems_l3_1hz(settings.inbox / name, platform="SARAL/AltiKa Drifting Phase",
                           times=times, date_created="2021-06-01T00:00:00Z")
    report = run(env)
    assert [(o.action, o.data_day) for o in report.outcomes] == [
        ("archived", first), ("archived", dt.date(2016, 12, 2)),
        ("archived", dt.date(2016, 12, 4))]
    assert report.summary() == "1 file: 3 archived"
    assert not (settings.inbox / name).exists()
    records = ledger.find_inputs(kind="alongtrack", status="ok")
    assert {r.original_name for r in records} == {name}
    assert {Path(r.path).name for r in records} == {
        f"dt_gulfstream_alg_phy_l3_{d}_20210601.nc" for d in ("20161201", "20161202",
                                                               "20161204")}
    files = find_input_files(settings.archive)
    track = read_alongtrack_files(files.alongtrack_paths(sorted(files.alongtrack)))
    assert (track.time == written["time"].astype("datetime64[ns]")).all()
    np.testing.assert_allclose(track.sla, written["sla"], atol=1e-12)
    np.testing.assert_allclose(track.mdt, written["mdt"], atol=1e-12)
    # delivered again: every day is a duplicate, nothing quarantined
    cmems_l3_1hz(settings.inbox / name, platform="SARAL/AltiKa Drifting Phase", times=times,
                 date_created="2021-06-01T00:00:00Z")
    again = run(env)
    assert [o.action for o in again.outcomes] == ["duplicate"] * 3
    assert not (settings.inbox / name).exists()

"""GHRSST SST files as they really are: a real CMEMS L4 file and replicas of real headers.

The replicas (MUR v4.1 L4, OSTIA GDS 2.0 L4, ACSPO L3U) are small grids written here with
the variables, types, packing and flag attributes of the published products; expected values
are computed independently of the reader (netCDF4 auto-masking, or the CF formula).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from varnet.config import ConfigError, dump_toml
from varnet.io.ghrsst_mask import MaskError, open_sea
from varnet.io.readers import InputFileError, read_sst
from varnet.operational.config import load_ops_config
from varnet.operational.ingest import IngestSettings, ingest
from varnet.operational.ledger import Ledger

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
BLACK_SEA = "20160707000000-GOS-L4_GHRSST-SSTfnd-OISST_HR_REP-BLK-v02.0-fv01.0.nc"
MUR = "20170428090000-JPL-L4_GHRSST-SSTfnd-MUR-GLOB-v02.0-fv04.1.nc"
OSTIA = "20200101120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc"
ACSPO = "20200101120000-STAR-L3U_GHRSST-SSTsubskin-VIIRS_NPP-ACSPO_V2.61-v02.0-fv01.0.nc"
TODAY = dt.date(2020, 1, 10)
EPOCH = dt.datetime(1981, 1, 1)
NY, NX = 20, 30
SHORT_FILL, BYTE_FILL = np.int16(-32768), np.int8(-128)
GDS2_MASK = {"flag_masks": np.array([1, 2, 4, 8, 16], np.int8),
             "flag_meanings": "water land optional_lake_surface sea_ice optional_river_surface"}
MUR_MASK = {"flag_masks": np.array([1, 2, 4, 8, 16], np.int8),
            "flag_values": np.array([1, 2, 5, 9, 13], np.int8),
            "flag_meanings": "1=open-sea, 2=land, 5=open-lake, 9=open-sea with ice in the grid, "
                             "13=open-lake with ice in the grid"}
BLACK_SEA_MASK = {"flag_values": np.array([1, 2, 3, 4], np.int8),
                  "flag_meanings": "sea land lake ice"}
QUALITY = {"long_name": "quality level of SST pixel", "valid_min": np.int8(0),
           "valid_max": np.int8(5), "flag_values": np.arange(6, dtype=np.int8),
           "flag_meanings": "no_data bad_data worst_quality low_quality acceptable_quality "
                            "best_quality"}


# --------------------------------------------------------------------------------------------
# writing replicas


def _seconds(when: dt.datetime) -> int:
    return int((when - EPOCH).total_seconds())


def _grid_file(path: Path, lat: np.ndarray, lon: np.ndarray, when: dt.datetime,
               time_units: str, variables: dict[str, tuple[str, dict, np.ndarray]]) -> Path:
    """A GHRSST-like file: dims (time, lat, lon), float lat/lon, int32 time, packed variables
    ``name: (type, attributes with _FillValue, stored (lat, lon) values)``."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 1)
        ds.createDimension("lat", lat.size)
        ds.createDimension("lon", lon.size)
        t = ds.createVariable("time", "i4", ("time",))
        t.setncatts({"long_name": "reference time of sst field", "standard_name": "time",
                     "axis": "T", "units": time_units})
        t[:] = [_seconds(when)]
        for name, values, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            v = ds.createVariable(name, "f4", (name,))
            v.setncatts({"standard_name": name.replace("lat", "latitude").replace(
                "lon", "longitude"), "units": units})
            v[:] = values
        for name, (kind, attrs, data) in variables.items():
            attrs = dict(attrs)
            v = ds.createVariable(name, kind, ("time", "lat", "lon"),
                                  fill_value=attrs.pop("_FillValue"))
            v.set_auto_maskandscale(False)
            v.setncatts(attrs)
            v[:] = data[None]
        ds.setncatts({"Conventions": "CF-1.5", "gds_version_id": "2.0"})
    return path


def _sst_attrs(standard_name: str, scale: float, offset: float) -> dict:
    return {"long_name": "analysed sea surface temperature", "standard_name": standard_name,
            "units": "kelvin", "_FillValue": SHORT_FILL, "add_offset": np.float32(offset),
            "scale_factor": np.float32(scale), "valid_min": np.int16(-32767),
            "valid_max": np.int16(32767)}


def _l4(path: Path, sst_raw: np.ndarray, mask: np.ndarray, mask_attrs: dict, *,
        when: dt.datetime, scale: float = 0.01, offset: float = 273.15,
        lat: np.ndarray | None = None, lon: np.ndarray | None = None,
        time_units: str = "seconds since 1981-01-01 00:00:00") -> Path:
    """An L4 file with ``analysed_sst``, ``analysis_error``, ``mask`` and ``sea_ice_fraction``."""
    lat = np.linspace(30.0, 31.9, NY) if lat is None else lat
    lon = np.linspace(-70.0, -67.1, NX) if lon is None else lon
    return _grid_file(path, lat, lon, when, time_units, {
        "analysed_sst": ("i2", _sst_attrs("sea_surface_foundation_temperature", scale, offset),
                         sst_raw),
        "analysis_error": ("i2", {"long_name": "estimated error standard deviation of "
                                  "analysed_sst", "units": "kelvin", "_FillValue": SHORT_FILL,
                                  "add_offset": np.float32(0.0),
                                  "scale_factor": np.float32(0.01)},
                           np.full(sst_raw.shape, 40, np.int16)),
        "mask": ("i1", {"long_name": "sea/land field composite mask", "_FillValue": BYTE_FILL,
                        "valid_min": np.int8(1), "valid_max": np.int8(31), **mask_attrs},
                 mask.astype(np.int8)),
        "sea_ice_fraction": ("i1", {"long_name": "sea ice area fraction",
                                    "standard_name": "sea_ice_area_fraction",
                                    "units": "fraction (between 0 and 1)",
                                    "_FillValue": BYTE_FILL, "add_offset": np.float32(0.0),
                                    "scale_factor": np.float32(0.01)},
                             np.where(mask & 8, 80, BYTE_FILL).astype(np.int8)),
    })


def _expected_masked(path: Path, variable: str) -> np.ndarray:
    """``variable`` decoded by netCDF4 itself (auto mask and scale), NaN where masked."""
    with netCDF4.Dataset(path) as ds:
        return np.ma.filled(ds[variable][0].astype(np.float64), np.nan)


def _mur(folder: Path) -> tuple[Path, np.ndarray]:
    """MUR v4.1 replica on a 20 x 30 piece of its 0.01 degree grid; returns (file, mask)."""
    rng = np.random.default_rng(1)
    raw = rng.integers(-8000, 2000, (NY, NX)).astype(np.int16)  # 290.15 to 300.15 K
    mask = np.ones((NY, NX), np.int8)
    mask[:, :5] = 2        # land: no SST
    mask[2:5, 10:14] = 5   # open lake
    mask[15:, 20:] = 9     # open sea under ice: near freezing
    mask[15:, 10:12] = 13  # lake under ice
    raw[mask == 2] = SHORT_FILL
    raw[mask == 9] = -26800  # 271.35 K
    lat = (-89.99 + 0.01 * (12000 + np.arange(NY))).astype(np.float32)  # ascending, from -89.99
    lon = (-179.99 + 0.01 * (10000 + np.arange(NX))).astype(np.float32)
    path = _l4(folder / MUR, raw, mask, MUR_MASK, when=dt.datetime(2017, 4, 28, 9),
               scale=0.001, offset=298.15, lat=lat, lon=lon,
               time_units="seconds since 1981-01-01 00:00:00 UTC")
    return path, mask


def _ostia(folder: Path, mask: np.ndarray, mask_attrs: dict = GDS2_MASK) -> Path:
    raw = (1700 + np.add.outer(np.arange(NY), np.arange(NX))).astype(np.int16)  # ~290 K
    raw[mask == 2] = SHORT_FILL
    return _l4(folder / OSTIA, raw, mask, mask_attrs, when=dt.datetime(2020, 1, 1, 12))


def _acspo(folder: Path, quality: np.ndarray | None = None) -> tuple[Path, dict]:
    """ACSPO L3U replica (VIIRS NPP, 0.02 degree, latitudes descending); returns the file
    and its stored arrays."""
    rng = np.random.default_rng(2)
    raw = rng.integers(1000, 2500, (NY, NX)).astype(np.int16)  # 283.15 to 298.15 K
    if quality is None:
        quality = rng.integers(0, 6, (NY, NX)).astype(np.int8)
    raw[quality == 0] = SHORT_FILL
    bias = rng.integers(-40, 40, (NY, NX)).astype(np.int8)  # -0.64 to 0.62 K
    bias[::3, ::4] = BYTE_FILL
    l2p = np.where(quality == 0, 2, 64).astype(np.int16)
    lat = (89.99 - 0.02 * (2000 + np.arange(NY))).astype(np.float32)  # descending
    lon = (-179.99 + 0.02 * (5000 + np.arange(NX))).astype(np.float32)
    sst_attrs = _sst_attrs("sea_surface_subskin_temperature", 0.01, 273.15)
    sst_attrs.update(long_name="sea surface sub-skin temperature", valid_min=np.int16(-200),
                     valid_max=np.int16(5000))
    path = _grid_file(folder / ACSPO, lat, lon, dt.datetime(2020, 1, 1, 12),
                      "seconds since 1981-01-01 00:00:00", {
        "sea_surface_temperature": ("i2", sst_attrs, raw),
        "sst_dtime": ("i2", {"long_name": "time difference from reference time",
                             "units": "second", "_FillValue": SHORT_FILL,
                             "add_offset": np.int16(0), "scale_factor": np.int16(1)},
                      np.where(quality == 0, SHORT_FILL, 120).astype(np.int16)),
        "sses_bias": ("i1", {"long_name": "SSES bias estimate", "units": "kelvin",
                             "_FillValue": BYTE_FILL, "add_offset": np.float32(0.0),
                             "scale_factor": np.float32(0.016), "valid_min": np.int8(-127),
                             "valid_max": np.int8(127)}, bias),
        "sses_standard_deviation": ("i1", {"long_name": "SSES standard deviation",
                                           "units": "kelvin", "_FillValue": BYTE_FILL,
                                           "add_offset": np.float32(1.0),
                                           "scale_factor": np.float32(0.008)},
                                    np.full((NY, NX), -60, np.int8)),
        "l2p_flags": ("i2", {"long_name": "L2P flags", "_FillValue": SHORT_FILL,
                             "valid_min": np.int16(0), "valid_max": np.int16(32767),
                             "flag_masks": np.array([1, 2, 4, 8, 16, 32, 64], np.int16),
                             "flag_meanings": "microwave land ice lake river "
                                              "reserved_for_future_use day_night"}, l2p),
        "quality_level": ("i1", {**QUALITY, "_FillValue": BYTE_FILL}, quality),
    })
    return path, {"sst": raw, "bias": bias, "quality": quality}


def _ingest_one(tmp_path: Path, source: Path, **settings: object):
    """Ingest ``source`` (copied into a fresh inbox); returns its outcome."""
    inbox = tmp_path / "inbox"
    for folder in (inbox, tmp_path / "archive", tmp_path / "quarantine"):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, inbox / source.name)
    config = IngestSettings(inbox=inbox, archive=tmp_path / "archive",
                            quarantine=tmp_path / "quarantine", **settings)
    with Ledger(tmp_path / "state" / "ledger.sqlite") as ledger:
        (outcome,) = ingest(config, ledger, today=TODAY).outcomes
    return outcome


def _note(outcome) -> str:
    return outcome.destination.with_name(outcome.destination.name + ".reason.txt").read_text()


# --------------------------------------------------------------------------------------------
# the real CMEMS Black Sea L4 file


@pytest.fixture
def black_sea() -> Path:
    path = REALDATA / BLACK_SEA
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    return path


def test_real_black_sea_l4_keeps_every_valid_value(black_sea):
    with netCDF4.Dataset(black_sea) as ds:
        assert ds["mask"][:].count() == 0  # the mask is fill everywhere: it says nothing
        lat, lon = ds["lat"][:], ds["lon"][:]
    expected = _expected_masked(black_sea, "analysed_sst")
    assert np.isfinite(expected).sum() == 30402
    assert (np.diff(lat) > 0).all() and (np.diff(lon) > 0).all()  # no reordering needed

    field = read_sst(black_sea)
    assert field.level == "L4" and field.day == dt.date(2016, 7, 7)
    assert np.isfinite(field.sst_k).sum() == 30402
    np.testing.assert_array_equal(np.isnan(field.sst_k), np.isnan(expected))  # land is NaN
    np.testing.assert_allclose(field.sst_k, expected, rtol=0, atol=1e-4)


def test_real_black_sea_l4_is_archived(black_sea, tmp_path):
    outcome = _ingest_one(tmp_path, black_sea)
    assert outcome.action == "archived", outcome.reason
    assert outcome.destination == tmp_path / "archive" / "sst" / "2016" / "07" / BLACK_SEA


def test_black_sea_flag_values_exclude_lakes_that_bit_one_would_keep(tmp_path):
    """The Black Sea file's mask convention with values: 3 is a lake, though 3 & 1 == 1."""
    mask = np.ones((NY, NX), np.int8)
    mask[:, :4], mask[5:8, 10:13], mask[15:, 25:] = 2, 3, 4
    path = _ostia(tmp_path, mask, BLACK_SEA_MASK)
    assert (3 & 1) == 1
    field = read_sst(path)
    expected = np.where(mask == 1, _expected_masked(path, "analysed_sst"), np.nan)
    np.testing.assert_allclose(field.sst_k, expected, rtol=0, atol=1e-4)
    assert np.isnan(field.sst_k[mask == 3]).all() and np.isfinite(field.sst_k[mask == 1]).all()


# --------------------------------------------------------------------------------------------
# replicas of real headers


def test_mur_v41_keeps_open_sea_only(tmp_path):
    path, mask = _mur(tmp_path)
    field = read_sst(path)
    assert field.level == "L4" and field.day == dt.date(2017, 4, 28)
    np.testing.assert_allclose(field.lat[[0, -1]], [30.01, 30.20], atol=1e-6)
    expected = np.where(mask == 1, _expected_masked(path, "analysed_sst"), np.nan)
    np.testing.assert_allclose(field.sst_k, expected, rtol=0, atol=1e-4)
    for value in (2, 5, 9, 13):  # land, lake, sea under ice, lake under ice
        assert np.isnan(field.sst_k[mask == value]).all(), value
    assert _ingest_one(tmp_path, path).action == "archived"


def test_gds2_bit_mask_excludes_lake_and_ice_bits(tmp_path):
    mask = np.ones((NY, NX), np.int8)
    mask[:, :3] = 2        # land
    mask[4:6, 8:12] = 5    # water + lake
    mask[14:, 20:] = 9     # water + sea ice
    mask[10, 15] = 17      # water + river
    path = _ostia(tmp_path, mask)
    field = read_sst(path)
    assert field.day == dt.date(2020, 1, 1)
    expected = np.where(mask == 1, _expected_masked(path, "analysed_sst"), np.nan)
    np.testing.assert_allclose(field.sst_k, expected, rtol=0, atol=1e-4)
    assert np.isfinite(field.sst_k[mask == 1]).all()
    assert np.isnan(field.sst_k[(mask == 5) | (mask == 9) | (mask == 17)]).all()
    assert _ingest_one(tmp_path, path).action == "archived"


def test_acspo_l3u_quality_bias_and_descending_latitudes(tmp_path):
    path, stored = _acspo(tmp_path)
    field = read_sst(path)
    assert field.level == "L3" and field.day == dt.date(2020, 1, 1)
    assert (np.diff(field.lat) > 0).all() and field.lat[-1] == pytest.approx(49.99)
    sst, bias, quality = stored["sst"], stored["bias"], stored["quality"]
    kelvin = sst * 0.01 + 273.15 - np.where(bias == BYTE_FILL, 0.0, bias * 0.016)
    expected = np.where((quality >= 4) & (sst != SHORT_FILL), kelvin, np.nan)[::-1]
    np.testing.assert_allclose(field.sst_k, expected, rtol=0, atol=1e-4)
    assert np.isfinite(field.sst_k).sum() == np.count_nonzero(quality >= 4)
    kept_bias_missing = ((quality >= 4) & (bias == BYTE_FILL))[::-1]
    assert kept_bias_missing.any() and np.isfinite(field.sst_k[kept_bias_missing]).all()
    low = read_sst(path, min_quality_level=2)
    assert np.isfinite(low.sst_k).sum() == np.count_nonzero(quality >= 2)
    assert _ingest_one(tmp_path, path).action == "archived"


def test_acspo_l3u_all_low_quality_is_quarantined_naming_the_threshold(tmp_path):
    path, _ = _acspo(tmp_path, quality=np.full((NY, NX), 2, np.int8))
    outcome = _ingest_one(tmp_path / "strict", path)
    assert outcome.action == "quarantined"
    assert "quality_level below production.sst_min_quality_level = 4" in outcome.reason
    assert outcome.reason in _note(outcome)
    assert _ingest_one(tmp_path / "lenient", path, sst_min_quality_level=2).action == "archived"


def test_all_fill_mask_is_ignored(tmp_path):
    path = _ostia(tmp_path, np.full((NY, NX), BYTE_FILL, np.int8))
    field = read_sst(path)
    assert np.isfinite(field.sst_k).all()


def test_mask_fill_pixels_keep_their_sst(tmp_path):
    mask = np.ones((NY, NX), np.int8)
    mask[:, :2], mask[3, 4] = 2, BYTE_FILL
    field = read_sst(_ostia(tmp_path, mask))
    assert np.isfinite(field.sst_k[3, 4]) and np.isnan(field.sst_k[:, :2]).all()


def test_mask_not_understood_is_refused_with_its_attributes(tmp_path):
    bad = {"flag_values": np.array([0, 1], np.int8), "flag_meanings": "valid invalid"}
    path = _ostia(tmp_path, np.ones((NY, NX), np.int8), bad)
    with pytest.raises(InputFileError, match=r"variable 'mask'.*no flag meaning is open sea") \
            as info:
        read_sst(path)
    assert "flag_values=[0, 1]" in str(info.value) and "'valid invalid'" in str(info.value)
    outcome = _ingest_one(tmp_path, path)
    assert outcome.action == "quarantined" and "variable 'mask'" in outcome.reason


# --------------------------------------------------------------------------------------------
# the mask conventions, pixel by pixel


@pytest.mark.parametrize(("attrs", "raw", "expected"), [
    (BLACK_SEA_MASK, [1, 2, 3, 4, -128], [1, 0, 0, 0, 1]),
    (GDS2_MASK, [1, 2, 5, 9, 17, 3, 0], [1, 0, 0, 0, 0, 0, 0]),
    (MUR_MASK, [1, 2, 5, 9, 13, 3], [1, 0, 0, 0, 0, 0]),
    ({"flag_masks": np.array([3, 3, 4], np.int8), "flag_values": np.array([1, 2, 4], np.int8),
      "flag_meanings": "sea land sea_ice"}, [1, 2, 5, 3, 4], [1, 0, 0, 0, 0]),  # CF rule
    ({"flag_meanings": "1=open-sea, 2=land"}, [1, 2, 3], [1, 0, 0]),  # numbers as values
])
def test_mask_conventions(attrs, raw, expected):
    got = open_sea(np.array(raw, np.int8), name="mask", fill_values=[np.int8(-128)],
                   flag_masks=attrs.get("flag_masks"), flag_values=attrs.get("flag_values"),
                   flag_meanings=attrs.get("flag_meanings"))
    np.testing.assert_array_equal(got, np.array(expected, bool))


@pytest.mark.parametrize(("attrs", "message"), [
    ({"flag_masks": [1, 2]}, "flag_meanings is missing"),
    ({"flag_meanings": "sea land"}, "neither flag_masks nor flag_values"),
    ({"flag_values": [1, 2, 3], "flag_meanings": "sea land"}, "3 entries for 2 meanings"),
    ({"flag_values": [1, 2], "flag_meanings": "1=sea, 4=land"}, "repeat neither"),
    ({"flag_values": [1, 2], "flag_meanings": "1=sea, land"}, "not of the form N=meaning"),
])
def test_mask_attributes_that_cannot_be_read(attrs, message):
    with pytest.raises(MaskError, match=message):
        open_sea(np.array([1, 2], np.int8), name="mask", fill_values=[],
                 flag_masks=attrs.get("flag_masks"), flag_values=attrs.get("flag_values"),
                 flag_meanings=attrs.get("flag_meanings"))


# --------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize("level", [-1, 6])
def test_min_quality_level_is_validated(tmp_path, level):
    path = tmp_path / "ops.toml"
    path.write_text(dump_toml(_config(level)))
    with pytest.raises(ConfigError, match=r"production\.sst_min_quality_level.*0\.\.5"):
        load_ops_config(path)


def test_min_quality_level_reaches_ingest(tmp_path):
    path = tmp_path / "ops.toml"
    path.write_text(dump_toml(_config(2)))
    config = load_ops_config(path)
    assert config.production.sst_min_quality_level == 2
    assert IngestSettings.from_config(config).sst_min_quality_level == 2
    demo = Path(__file__).resolve().parents[1] / "configs"
    for name in ("ops-demo.toml", "ops-demo-nrt.toml"):
        assert load_ops_config(demo / name).production.sst_min_quality_level == 4


def _config(level: int) -> dict:
    return {
        "name": "test-region",
        "region": {"lat_min": 30.05, "lon_min": -60.95, "resolution_deg": 0.1, "nlat": 20,
                   "nlon": 30},
        "model": {"path": "model.onnx"},
        "paths": {"inbox": "ops/inbox", "archive": "ops/archive",
                  "quarantine": "ops/quarantine", "products": "ops/products",
                  "state": "ops/state"},
        "production": {"sst_min_quality_level": level},
    }

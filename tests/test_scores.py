"""Tests of varnet.scores against hand computations and independent references.

References: explained variances and normalised RMSE of tiny arrays worked out by hand;
resolutions of random fields low-passed at a known scale (the score must fall to 0.5 there);
contourpy's marching squares for the 0.5 level set of a smooth score. With a land mask: the
same scores with NaN on land, the paper's stencils on the sea cells away from the coast
(scipy's binary erosion), and the low-pass cut-offs found again through the land.
"""

from __future__ import annotations

import math

import contourpy
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import ndimage

from varnet.kernels.paper_derivatives import paper_div_curl_strain, paper_geostrophy
from varnet.scores import (
    SCORE_COLUMNS,
    Fields,
    isotropic_resolution_km,
    nrmse_scores,
    plot_psd_scores,
    psd_space_time_score,
    score_table,
    scored_currents,
    table_markdown,
    tau_div,
    tau_field,
    tau_strain,
    tau_uv,
    tau_vort,
    tau_vort_div_strain,
)

DLON = 0.05


def embed(inner: np.ndarray, junk: float = 1e6) -> np.ndarray:
    """Put a (t, 2, 2) block at the centre of a (t, 8, 8) array whose 3-pixel border is junk."""
    out = np.full((inner.shape[0], 8, 8), junk)
    out[:, 3:5, 3:5] = inner
    return out


def lowpass(field: np.ndarray, axis: int, step: float, cutoff: float) -> np.ndarray:
    """Remove the Fourier modes of period/wavelength shorter than ``cutoff`` along ``axis``."""
    freq = np.fft.fftfreq(field.shape[axis], step)
    keep = np.abs(freq) <= 1.0 / cutoff + 1e-9
    shape = [1, 1, 1]
    shape[axis] = -1
    spec = np.fft.fft(field, axis=axis) * keep.reshape(shape)
    return np.fft.ifft(spec, axis=axis).real


def coords(nt: int, ny: int, nx: int):
    time = np.arange(nt, dtype=float)
    lat = 35.0 + DLON * np.arange(ny)
    lon = -60.0 + DLON * np.arange(nx)
    return time, lat, lon


# ------------------------------------------------------------------------------------------
# tau, mu, sigma by hand
# ------------------------------------------------------------------------------------------


def test_tau_uv_by_hand_with_border_crop():
    u_ref = embed(np.array([[[1.0, 2.0], [3.0, 4.0]]]))
    v_ref = embed(np.zeros((1, 2, 2)))
    u = embed(np.array([[[1.0, 2.0], [3.0, 5.0]]]), junk=-7.0)
    v = embed(np.array([[[0.0, 0.0], [0.0, 1.0]]]), junk=3.0)
    # mse = (1 + 1) / 4 = 0.5; non-centred energy = (1 + 4 + 9 + 16) / 4 = 7.5
    assert tau_uv(u, v, u_ref, v_ref) == pytest.approx(100 * (1 - 0.5 / 7.5), rel=1e-12)
    assert tau_uv(u_ref, v_ref, u_ref, v_ref) == 100.0


def test_tau_field_by_hand_and_nan_points():
    q_ref = embed(np.array([[[1.0, 2.0], [3.0, 4.0]]]))
    q = embed(np.array([[[1.0, 2.0], [3.0, 3.0]]]), junk=0.0)
    # centred variance 1.25, mse 0.25
    assert tau_field(q, q_ref) == pytest.approx(80.0, rel=1e-12)
    assert tau_field(q_ref, q_ref) == 100.0
    q_nan = q.copy()
    q_nan[0, 3, 3] = np.nan  # drop the point (1.0): var of (2, 3, 4) = 2/3, mse = 1/3
    assert tau_field(q_nan, q_ref) == pytest.approx(100 * (1 - (1 / 3) / (2 / 3)), rel=1e-12)
    assert math.isnan(tau_field(q, embed(np.ones((1, 2, 2)))))  # constant reference
    with pytest.raises(ValueError, match="crop"):
        tau_field(np.zeros((2, 6, 9)), np.zeros((2, 6, 9)))


def test_nrmse_by_hand():
    ref = np.array([[[3.0, 4.0]], [[0.0, 5.0]]])  # (time=2, lat=1, lon=2)
    rec = ref + np.array([[[1.0, 1.0]], [[0.0, 0.0]]])
    mu, sigma = nrmse_scores(rec, ref)
    # global: 1 - sqrt(2/50) = 0.8; daily: 1 - sqrt(2/25) and 1
    assert mu == pytest.approx(0.8, rel=1e-12)
    assert sigma == pytest.approx(math.sqrt(2 / 25) / 2, rel=1e-12)
    assert nrmse_scores(ref, ref) == (1.0, 0.0)
    rec_nan = rec.copy()
    rec_nan[0, 0, 0] = np.nan  # that point leaves both sums
    mu_nan, _ = nrmse_scores(rec_nan, ref)
    assert mu_nan == pytest.approx(1 - math.sqrt(1 / 41), rel=1e-12)


def test_derived_taus_perfect_and_consistent():
    rng = np.random.default_rng(3)
    _, lat, lon = coords(6, 16, 20)
    u = rng.standard_normal((6, 16, 20))
    v = rng.standard_normal((6, 16, 20))
    assert tau_vort_div_strain(u, v, u, v, lat, lon) == (100.0, 100.0, 100.0)
    u2, v2 = u + 0.3 * rng.standard_normal(u.shape), 0.8 * v
    taus = tau_vort_div_strain(u2, v2, u, v, lat, lon)
    assert all(t < 100 for t in taus)
    assert (tau_vort(u2, v2, u, v, lat, lon), tau_div(u2, v2, u, v, lat, lon)) == taus[:2]
    assert tau_strain(u2, v2, u, v, lat, lon) == taus[2]


# ------------------------------------------------------------------------------------------
# space-time resolution
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_lambda_x_of_field_lowpassed_in_longitude(seed):
    time, _, lon = coords(64, 12, 128)
    ref = np.random.default_rng(seed).standard_normal((64, 12, 128))
    wavelength = 0.4  # degrees, 16 samples
    res = psd_space_time_score(lowpass(ref, 2, DLON, wavelength), ref, time, lon)
    assert res.lambda_x_deg == pytest.approx(wavelength, rel=0.15)
    assert not res.lambda_x_is_bound
    # the score does not depend on period: resolved down to the shortest sampled period
    assert res.lambda_t_is_bound and res.lambda_t_days == pytest.approx(64 / 31)
    assert not (res.resolved_everywhere or res.unresolved_everywhere)


@pytest.mark.parametrize("seed", [0, 1])
def test_lambda_t_of_field_lowpassed_in_time(seed):
    time, _, lon = coords(64, 12, 128)
    ref = np.random.default_rng(seed).standard_normal((64, 12, 128))
    period = 8.0  # days
    res = psd_space_time_score(lowpass(ref, 0, 1.0, period), ref, time, lon)
    assert res.lambda_t_days == pytest.approx(period, rel=0.15)
    assert res.lambda_x_is_bound and res.lambda_x_deg == pytest.approx(128 * DLON / 63)


def test_level_set_matches_contourpy_on_a_smooth_score():
    time, _, lon = coords(48, 10, 96)
    ref = np.random.default_rng(5).standard_normal((48, 10, 96))
    # a smooth space-time transfer function: errors grow smoothly towards small scales
    k = np.fft.fftfreq(96, DLON)[None, None, :]
    w = np.fft.fftfreq(48, 1.0)[:, None, None]
    gain = np.exp(-((k / 1.5) ** 2) - (w / 0.12) ** 2)
    rec = np.fft.ifft2(np.fft.fft2(ref, axes=(0, 2)) * gain, axes=(0, 2)).real
    res = psd_space_time_score(rec, ref, time, lon)
    lines = contourpy.contour_generator(x=res.wavelength_deg, y=res.period_days, z=res.score).lines(
        0.5
    )
    assert len(lines) == 1  # a single path: "first path" and whole level set agree
    assert res.lambda_x_deg == pytest.approx(lines[0][:, 0].min(), rel=1e-12)
    assert res.lambda_t_days == pytest.approx(lines[0][:, 1].min(), rel=1e-12)
    assert not (res.lambda_x_is_bound or res.lambda_t_is_bound)
    # every level-set point lies on contourpy's line (same edge interpolation)
    on_line = {tuple(np.round(p, 9)) for p in lines[0]}
    assert {tuple(np.round(p, 9)) for p in res.level_set} <= on_line


def test_resolved_region_is_the_large_scale_component():
    time, _, lon = coords(32, 12, 128)
    ref = np.random.default_rng(6).standard_normal((32, 12, 128))
    # keep wavelengths >= 0.4 deg, and an isolated band around 0.15 deg: an island of S ~ 1
    k = np.abs(np.fft.fftfreq(128, DLON))
    keep = (k <= 1 / 0.4 + 1e-9) | ((k >= 1 / 0.16) & (k <= 1 / 0.14))
    rec = np.fft.ifft(np.fft.fft(ref, axis=2) * keep, axis=2).real
    res = psd_space_time_score(rec, ref, time, lon)
    assert res.lambda_x_deg == pytest.approx(0.4, rel=0.15)  # the island is ignored
    lines = contourpy.contour_generator(x=res.wavelength_deg, y=res.period_days, z=res.score).lines(
        0.5
    )
    assert len(lines) > 1 and min(line[:, 0].min() for line in lines) < 0.2
    # no score above 0.5 at the large-scale corner: the largest region is taken
    drop = np.abs(k - 1 / (128 * DLON)) > 1e-9  # remove the longest resolved wavelength
    rec = np.fft.ifft(np.fft.fft(ref, axis=2) * drop, axis=2).real
    res = psd_space_time_score(rec, ref, time, lon)
    assert res.score[0, 0] < 0.5 and not res.resolved_everywhere
    assert res.lambda_x_is_bound and res.lambda_t_is_bound


def test_no_crossing_policies():
    time, _, lon = coords(20, 4, 30)
    ref = np.random.default_rng(2).standard_normal((20, 4, 30))
    perfect = psd_space_time_score(ref, ref, time, lon)
    assert perfect.resolved_everywhere and not perfect.unresolved_everywhere
    assert perfect.lambda_x_is_bound and perfect.lambda_t_is_bound
    # smallest sampled wavelength and period: 1 / largest positive frequency
    assert perfect.lambda_x_deg == pytest.approx(30 * DLON / 14)
    assert perfect.lambda_t_days == pytest.approx(20 / 9)
    assert perfect.level_set.shape == (0, 2)
    for rec in (np.zeros_like(ref), ref + 3 * np.random.default_rng(9).standard_normal(ref.shape)):
        never = psd_space_time_score(rec, ref, time, lon)
        assert never.unresolved_everywhere and not never.resolved_everywhere
        assert math.isnan(never.lambda_x_deg) and math.isnan(never.lambda_t_days)


def test_space_time_inputs():
    time, _, lon = coords(16, 3, 24)
    ref = np.random.default_rng(4).standard_normal((16, 3, 24))
    rec = lowpass(ref, 2, DLON, 0.3)
    base = psd_space_time_score(rec, ref, time, lon)
    # datetime64 times and transposed DataArrays give the same result
    days = np.datetime64("2012-10-22") + np.arange(16).astype("timedelta64[D]")
    da = lambda a: xr.DataArray(a, dims=("time", "lat", "lon")).transpose("lon", "lat", "time")  # noqa: E731
    again = psd_space_time_score(da(rec), da(ref), days, lon)
    np.testing.assert_allclose(again.score, base.score, rtol=1e-12)
    assert again.lambda_x_deg == base.lambda_x_deg
    assert base.freq_lon.shape == (11,) and base.freq_time.shape == (7,)
    assert base.score.shape == base.psd_ref.shape == (7, 11)
    bad = rec.copy()
    bad[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match="rec"):
        psd_space_time_score(bad, ref, time, lon)
    with pytest.raises(ValueError, match="lon_deg"):
        psd_space_time_score(rec, ref, time, lon[::-1])
    with pytest.raises(ValueError, match="shapes"):
        psd_space_time_score(rec[:, :2], ref, time, lon)


# ------------------------------------------------------------------------------------------
# isotropic resolution
# ------------------------------------------------------------------------------------------


def test_isotropic_resolution_of_isotropically_lowpassed_field():
    _, lat, lon = coords(4, 96, 128)
    ref = np.random.default_rng(7).standard_normal((4, 96, 128))
    dy = 6371.0 * np.deg2rad(DLON)
    dx = 6371.0 * np.cos(np.deg2rad(lat.mean())) * np.deg2rad(DLON)
    kr = np.hypot(np.fft.fftfreq(96, dy)[:, None], np.fft.fftfreq(128, dx)[None, :])
    for wavelength in (30.0, 60.0):
        rec = np.fft.ifft2(np.fft.fft2(ref) * (kr <= 1 / wavelength)).real
        res = isotropic_resolution_km(rec, ref, lat, lon)
        assert res.resolution_km == pytest.approx(wavelength, rel=0.15)
        assert not (res.resolution_is_bound or res.resolved_everywhere)
    perfect = isotropic_resolution_km(ref, ref, lat, lon)
    assert perfect.resolved_everywhere and perfect.resolution_is_bound
    assert perfect.resolution_km == perfect.wavelength_km[-1]
    # the smallest ring is at the coarser axis' Nyquist wavenumber (2 samples)
    assert perfect.resolution_km == pytest.approx(2 * max(dx, dy), rel=0.02)
    never = isotropic_resolution_km(np.zeros_like(ref), ref, lat, lon)
    assert never.unresolved_everywhere and math.isnan(never.resolution_km)


# ------------------------------------------------------------------------------------------
# table and figure
# ------------------------------------------------------------------------------------------


def smooth_ssh(shape, seed):
    """Random SSH (m) low-passed in time and space, so that geostrophy is well resolved."""
    ssh = np.random.default_rng(seed).standard_normal(shape)
    for axis, step, cutoff in ((0, 1.0, 6.0), (1, DLON, 0.5), (2, DLON, 0.5)):
        ssh = lowpass(ssh, axis, step, cutoff)
    return 0.2 * ssh / ssh.std()


def test_score_table_rows_columns_and_values(tmp_path):
    time, lat, lon = coords(24, 20, 32)
    ssh = smooth_ssh((24, 20, 32), 0)
    u_g, v_g = paper_geostrophy(ssh, lat, lon)
    ageo = 0.02 * np.random.default_rng(1).standard_normal(ssh.shape)
    truth = Fields(ssh=ssh, u=u_g + ageo, v=v_g)
    noisy = ssh + 0.01 * np.random.default_rng(2).standard_normal(ssh.shape)
    recs = {
        "perfect": Fields(ssh=ssh, u=u_g + ageo, v=v_g),
        "geostrophy of truth": Fields(ssh=ssh),
        "noisy SSH": Fields(ssh=noisy, ssh_sigma=4.0),
    }
    table = score_table(truth, recs, lat, lon, time)
    assert list(table.index) == list(recs) and tuple(table.columns) == SCORE_COLUMNS
    perfect = table.loc["perfect"]
    assert perfect[["tau_uv", "tau_vort", "tau_div", "tau_strain"]].tolist() == [100.0] * 4
    assert perfect["mu_ssh"] == 1.0
    assert set(table.attrs["bounds"]["perfect"]) == {c for c in SCORE_COLUMNS if "lambda" in c}
    # geostrophy misses only the small ageostrophic part of u
    assert 90.0 < table.loc["geostrophy of truth", "tau_uv"] < 100.0
    assert table.loc["noisy SSH", "mu_ssh"] < 1.0
    assert table.loc["noisy SSH", "tau_uv"] < table.loc["geostrophy of truth", "tau_uv"]
    assert np.isfinite(table.to_numpy()).all()
    text = table_markdown(table)
    assert text.splitlines()[0].startswith("| method | λx,u (°)")
    assert "| perfect | ≤" in text and "upper bound" in text
    path = tmp_path / "scores.csv"
    table.to_csv(path)
    back = pd.read_csv(path, index_col="method")
    np.testing.assert_allclose(back.to_numpy(), table.to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="neither"):
        score_table(truth, {"empty": Fields()}, lat, lon, time)
    with pytest.raises(ValueError, match="both u and v"):
        Fields(u=ssh)


def test_table_markdown_formats_and_missing_values():
    table = pd.DataFrame(
        [[0.756, 0.61, 2.71, 2.52, 97.44, 92.1, 46.94, 87.2, 0.96669, math.nan]],
        index=pd.Index(["4DVarNet"], name="method"),
        columns=list(SCORE_COLUMNS),
    )
    text = table_markdown(table)
    assert (
        "| 4DVarNet | 0.76 | 0.61 | 2.7 | 2.5 | 97.4 | 92.1 | 46.9 | 87.2 | 0.967 | n/a |" in text
    )
    assert "n/a:" in text and "≤" not in text


def test_plot_psd_scores_writes_png_atomically(tmp_path):
    time, _, lon = coords(32, 6, 64)
    ref = np.random.default_rng(8).standard_normal((32, 6, 64))
    results = {
        "low-passed": psd_space_time_score(lowpass(ref, 2, DLON, 0.3), ref, time, lon),
        "perfect": psd_space_time_score(ref, ref, time, lon),
        "zero": psd_space_time_score(np.zeros_like(ref), ref, time, lon),
    }
    path = plot_psd_scores(results, tmp_path / "psd.png")
    assert path == tmp_path / "psd.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["psd.png"]
    with pytest.raises(ValueError, match="empty"):
        plot_psd_scores({}, tmp_path / "none.png")


# ------------------------------------------------------------------------------------------
# land mask
# ------------------------------------------------------------------------------------------


def corner_and_island(ny: int, nx: int) -> np.ndarray:
    """A sea mask (True on sea): a land corner and an island, inside the 3-pixel crop too."""
    ocean = np.ones((ny, nx), dtype=bool)
    ocean[: ny // 4, : nx // 5] = False
    ocean[ny // 2 : ny // 2 + 3, nx // 2 : nx // 2 + 4] = False
    return ocean


def on_land(a: np.ndarray, ocean: np.ndarray, value: float = 1e3) -> np.ndarray:
    return np.where(ocean, a, value)


def test_pointwise_scores_count_sea_cells_only():
    rng = np.random.default_rng(10)
    ocean = corner_and_island(20, 32)
    u_ref, v_ref, q_ref = (rng.standard_normal((5, 20, 32)) for _ in range(3))
    # perfect on sea, garbage on land: the perfect scores
    u, v, q = (on_land(a, ocean) for a in (u_ref, v_ref, q_ref))
    assert tau_uv(u, v, u_ref, v_ref, ocean=ocean) == 100.0
    assert tau_field(q, q_ref, ocean=ocean) == 100.0
    assert nrmse_scores(q, q_ref, ocean=ocean) == (1.0, 0.0)
    assert tau_uv(u, v, u_ref, v_ref) < 0.0  # without the mask the garbage counts
    # land leaves the sums exactly as NaN does (after the same crop)
    u2, v2, q2 = (a + 0.3 * rng.standard_normal(a.shape) for a in (u_ref, v_ref, q_ref))
    nan = {k: on_land(a, ocean, np.nan) for k, a in (("u", u2), ("v", v2), ("q", q2))}
    junk = {k: on_land(a, ocean) for k, a in (("u", u2), ("v", v2), ("q", q2))}
    assert tau_uv(junk["u"], junk["v"], u_ref, v_ref, ocean=ocean) == tau_uv(
        nan["u"], nan["v"], u_ref, v_ref
    )
    assert tau_field(junk["q"], q_ref, ocean=ocean) == tau_field(nan["q"], q_ref)
    assert nrmse_scores(junk["q"], q_ref, ocean=ocean) == nrmse_scores(nan["q"], q_ref)
    # an all-sea mask changes nothing
    sea = np.ones((20, 32), dtype=bool)
    assert tau_uv(u2, v2, u_ref, v_ref, ocean=sea) == tau_uv(u2, v2, u_ref, v_ref)
    assert tau_field(q2, q_ref, ocean=sea) == tau_field(q2, q_ref)
    assert nrmse_scores(q2, q_ref, ocean=sea) == nrmse_scores(q2, q_ref)
    with pytest.raises(ValueError, match="ocean must have"):
        tau_field(q2, q_ref, ocean=ocean[:, :-1])
    with pytest.raises(ValueError, match="boolean"):
        nrmse_scores(q2, q_ref, ocean=ocean.astype(int))
    with pytest.raises(ValueError, match="no sea"):
        tau_uv(u2, v2, u_ref, v_ref, ocean=np.zeros_like(ocean))


def test_derivative_scores_use_no_land_value_and_no_stencil_across_the_coast():
    rng = np.random.default_rng(11)
    _, lat, lon = coords(6, 20, 32)
    ocean = corner_and_island(20, 32)
    u_ref, v_ref = rng.standard_normal((6, 20, 32)), rng.standard_normal((6, 20, 32))
    u2, v2 = u_ref + 0.3 * rng.standard_normal(u_ref.shape), 0.8 * v_ref
    perfect = tau_vort_div_strain(
        on_land(u_ref, ocean), on_land(v_ref, ocean, -1e3), u_ref, v_ref, lat, lon, ocean=ocean
    )
    assert perfect == (100.0, 100.0, 100.0)
    # whatever land holds (garbage, zeros, NaN, in either field), the scores are the same
    taus = tau_vort_div_strain(
        on_land(u2, ocean),
        on_land(v2, ocean),
        on_land(u_ref, ocean, np.nan),
        v_ref,
        lat,
        lon,
        ocean=ocean,
    )
    again = tau_vort_div_strain(
        on_land(u2, ocean, np.nan),
        on_land(v2, ocean, 0.0),
        u_ref,
        on_land(v_ref, ocean, 7.0),
        lat,
        lon,
        ocean=ocean,
    )
    assert taus == again and all(t < 100.0 for t in taus)
    assert tau_vort(u2, v2, u_ref, v_ref, lat, lon, ocean=ocean) == taus[0]
    assert tau_div(u2, v2, u_ref, v_ref, lat, lon, ocean=ocean) == taus[1]
    assert tau_strain(u2, v2, u_ref, v_ref, lat, lon, ocean=ocean) == taus[2]
    # an all-sea mask: the paper's computation, exactly
    sea = np.ones((20, 32), dtype=bool)
    assert tau_vort_div_strain(u2, v2, u_ref, v_ref, lat, lon, ocean=sea) == (
        tau_vort_div_strain(u2, v2, u_ref, v_ref, lat, lon)
    )
    # the rule without smoothing: the paper's stencils, scored on the sea cells whose 4
    # neighbours are sea (beyond the grid's edge the stencil repeats the edge cell)
    kept = ndimage.binary_erosion(ocean, ndimage.generate_binary_structure(2, 1), border_value=1)
    rec = paper_div_curl_strain(on_land(u2, ocean), on_land(v2, ocean), lat, lon, sigma=0.0)
    ref = paper_div_curl_strain(u_ref, v_ref, lat, lon, sigma=0.0)
    div, curl, strain = (tau_field(q, q_r, ocean=kept) for q, q_r in zip(rec, ref, strict=True))
    assert tau_vort_div_strain(u2, v2, u_ref, v_ref, lat, lon, sigma=0.0, ocean=ocean) == (
        curl,
        div,
        strain,
    )


def test_spectral_scores_fill_land_with_zero_anomaly():
    time, _, lon = coords(64, 12, 128)
    ocean = np.ones((12, 128), dtype=bool)
    ocean[:4, :30] = False  # 11 % land
    ocean[6:9, 60:75] = False
    ref = np.random.default_rng(0).standard_normal((64, 12, 128))
    rec = lowpass(ref, 2, DLON, 0.4)
    masked = psd_space_time_score(
        on_land(rec, ocean), on_land(ref, ocean, np.nan), time, lon, ocean=ocean
    )
    assert masked.lambda_x_deg == pytest.approx(0.4, rel=0.15)  # the cut-off, as without land
    assert masked.lambda_t_is_bound
    again = psd_space_time_score(on_land(rec, ocean, -7.0), ref, time, lon, ocean=ocean)
    np.testing.assert_array_equal(again.score, masked.score)
    perfect = psd_space_time_score(on_land(ref, ocean), ref, time, lon, ocean=ocean)
    assert perfect.resolved_everywhere and np.all(perfect.score == 1.0)
    sea = np.ones_like(ocean)
    np.testing.assert_array_equal(
        psd_space_time_score(rec, ref, time, lon, ocean=sea).score,
        psd_space_time_score(rec, ref, time, lon).score,
    )
    bad = on_land(rec, ocean)
    bad[3, 8, 100] = np.nan
    with pytest.raises(ValueError, match="rec on sea cells"):
        psd_space_time_score(bad, ref, time, lon, ocean=ocean)
    little = np.zeros_like(ocean)
    little[:, :40] = True  # 31 % sea
    with pytest.raises(ValueError, match=r"31\.2 % of the"):
        psd_space_time_score(rec, ref, time, lon, ocean=little)
    assert psd_space_time_score(rec, ref, time, lon, ocean=little, min_sea_fraction=0.3)

    _, lat, lon = coords(4, 96, 128)
    ref = np.random.default_rng(7).standard_normal((4, 96, 128))
    ocean = np.ones((96, 128), dtype=bool)
    ocean[:30, :40] = False  # 12 % land
    ocean[50:65, 70:90] = False
    dy = 6371.0 * np.deg2rad(DLON)
    dx = 6371.0 * np.cos(np.deg2rad(lat.mean())) * np.deg2rad(DLON)
    kr = np.hypot(np.fft.fftfreq(96, dy)[:, None], np.fft.fftfreq(128, dx)[None, :])
    rec = np.fft.ifft2(np.fft.fft2(ref) * (kr <= 1 / 60.0)).real
    iso = isotropic_resolution_km(on_land(rec, ocean), ref, lat, lon, ocean=ocean)
    assert iso.resolution_km == pytest.approx(60.0, rel=0.15)
    again = isotropic_resolution_km(rec, on_land(ref, ocean, np.nan), lat, lon, ocean=ocean)
    np.testing.assert_array_equal(again.score, iso.score)
    perfect = isotropic_resolution_km(on_land(ref, ocean), ref, lat, lon, ocean=ocean)
    assert perfect.resolved_everywhere
    np.testing.assert_array_equal(
        isotropic_resolution_km(rec, ref, lat, lon, ocean=np.ones_like(ocean)).score,
        isotropic_resolution_km(rec, ref, lat, lon).score,
    )
    with pytest.raises(ValueError, match="min_sea_fraction"):
        isotropic_resolution_km(rec, ref, lat, lon, ocean=ocean, min_sea_fraction=0.95)


def test_score_table_with_a_land_mask():
    time, lat, lon = coords(24, 20, 32)
    ocean = corner_and_island(20, 32)
    ssh = smooth_ssh((24, 20, 32), 0)
    u_g, v_g = paper_geostrophy(ssh, lat, lon)
    u_t = u_g + 0.02 * np.random.default_rng(1).standard_normal(ssh.shape)
    noisy = ssh + 0.01 * np.random.default_rng(2).standard_normal(ssh.shape)

    def table(land: float, truth_land: float, mask: np.ndarray | None = ocean) -> pd.DataFrame:
        truth = Fields(*(on_land(a, ocean, truth_land) for a in (ssh, u_t, v_g)))
        recs = {
            "perfect": Fields(*(on_land(a, ocean, land) for a in (ssh, u_t, v_g))),
            "geostrophy of truth": Fields(ssh=on_land(ssh, ocean, land)),
            "noisy SSH": Fields(ssh=on_land(noisy, ocean, -land), ssh_sigma=4.0),
            "noisy currents": Fields(
                ssh=on_land(noisy, ocean, land), u=on_land(0.9 * u_t, ocean, land), v=v_g
            ),
        }
        return score_table(truth, recs, lat, lon, time, ocean=mask)

    masked = table(1e3, np.nan)
    perfect = masked.loc["perfect"]
    assert perfect[["tau_uv", "tau_vort", "tau_div", "tau_strain"]].tolist() == [100.0] * 4
    assert perfect["mu_ssh"] == 1.0
    assert set(masked.attrs["bounds"]["perfect"]) == {c for c in SCORE_COLUMNS if "lambda" in c}
    assert np.isfinite(masked.to_numpy()).all()
    assert 90.0 < masked.loc["geostrophy of truth", "tau_uv"] < 100.0
    # land values do not matter
    np.testing.assert_array_equal(table(0.0, -5.0).to_numpy(), masked.to_numpy())
    # an all-sea mask: the open-ocean table, exactly
    open_ocean = np.ones_like(ocean)
    np.testing.assert_array_equal(
        table(1e3, 1e3, open_ocean).to_numpy(), table(1e3, 1e3, None).to_numpy()
    )
    # geostrophic currents (u and v) are defined on the sea cells whose 4 neighbours are sea
    u, v, sea = scored_currents(Fields(ssh=on_land(ssh, ocean, np.nan)), lat, lon, ocean=ocean)
    kept = ndimage.binary_erosion(ocean, ndimage.generate_binary_structure(2, 1), border_value=1)
    np.testing.assert_array_equal(sea, kept)
    np.testing.assert_array_equal(np.isfinite(u + v).all(axis=0), kept)
    u_given, _, sea_given = scored_currents(Fields(u=u_t, v=v_g), lat, lon, ocean=ocean)
    np.testing.assert_array_equal(sea_given, ocean)
    np.testing.assert_array_equal(u_given, u_t)
    assert scored_currents(Fields(ssh=ssh), lat, lon, ocean=open_ocean)[2] is None
    with pytest.raises(ValueError, match="ocean must have"):
        score_table(Fields(ssh=ssh), {"x": Fields(ssh=ssh)}, lat, lon, time, ocean=ocean.T)


def test_a_part_of_the_sea_is_scored_with_fields_derived_from_all_of_it():
    time, lat, lon = coords(24, 20, 32)
    ocean = corner_and_island(20, 32)
    # the part: the sea farther than 2 cells (in both directions) from the land corner
    near = np.zeros_like(ocean)
    near[: 20 // 4 + 2, : 32 // 5 + 2] = True
    part = ocean & ~near
    ssh = smooth_ssh((24, 20, 32), 3)
    u_t, v_t = paper_geostrophy(ssh, lat, lon)
    # wrong on the sea left out of the part only
    wrong = np.where(near & ocean, ssh + 0.3, ssh)
    u_w, v_w = np.where(near & ocean, -u_t, u_t), np.where(near & ocean, -v_t, v_t)
    truth = Fields(ssh=ssh, u=u_t, v=v_t)
    recs = {"wrong near the coast": Fields(ssh=wrong, u=u_w, v=v_w)}

    def table(**masks) -> pd.DataFrame:
        return score_table(truth, recs, lat, lon, time, **masks).loc["wrong near the coast"]

    part_of_sea = table(ocean=ocean, scored=part)
    band_as_land = table(ocean=part)
    # cell by cell scores see only the part, where the currents and SSH are right
    assert part_of_sea["tau_uv"] == band_as_land["tau_uv"] == 100.0
    assert part_of_sea["mu_ssh"] == band_as_land["mu_ssh"] == 1.0
    # derivatives reach across the edge of the part into the (wrong) sea beside it...
    assert part_of_sea["tau_vort"] < 99.0 and part_of_sea["tau_div"] < 99.0
    # ...which the band-as-land table cuts off
    assert band_as_land["tau_vort"] == 100.0
    # scoring all the sea as the part changes nothing, bit for bit
    np.testing.assert_array_equal(table(ocean=ocean, scored=ocean).to_numpy(),
                                  table(ocean=ocean).to_numpy())
    with pytest.raises(ValueError, match="scored covers 1 land cells"):
        table(ocean=ocean, scored=part | ~ocean & (np.cumsum(~ocean) == 1).reshape(ocean.shape))

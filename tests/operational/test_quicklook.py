"""Tests of varnet.operational.quicklook: content of the figure, atomic PNG writes."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from varnet.operational.derived import derive_fields
from varnet.operational.products import ProductProvenance, read_product, write_product
from varnet.operational.quicklook import quicklook_figure, write_quicklook

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def eddy(n_lat=60, n_lon=90):
    lat = 30.0 + 0.1 * np.arange(n_lat)
    lon = -20.0 + 0.1 * np.arange(n_lon)
    lam, phi = np.meshgrid(lon, lat)
    sla = 0.25 * np.exp(-(((lam + 15.5) * 0.8) ** 2 + (phi - 33.0) ** 2) / 1.0)
    geo = derive_fields(sla, sla * 0, sla * 0, lat, lon)
    land = (lam > -12.5) & (phi < 31.0)
    sla, uo, vo = (np.where(land, np.nan, a) for a in (sla, geo["ugosa"], geo["vgosa"]))
    return lat, lon, {"sla": sla, "uo": uo, "vo": vo}


def test_quicklook_of_a_product_file(tmp_path):
    lat, lon, fields = eddy()
    prov = ProductProvenance("demo-model", "a" * 64, processing_status="final")
    product = write_product(tmp_path, "demo", dt.date(2024, 3, 2), dt.date(2024, 3, 5), lat,
                            lon, fields, prov)
    png = write_quicklook(tmp_path / "png" / "demo.png", read_product(product))
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert os.listdir(png.parent) == ["demo.png"]

    fig = quicklook_figure(read_product(product))
    title = fig.get_suptitle()
    assert "product day 2024-03-02" in title and "produced 2024-03-05" in title
    assert "final" in title and "demo-model" in title
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "sea level anomaly (m)" in labels
    assert "relative vorticity / |f| (dimensionless)" in labels
    map_axes = [ax for ax in fig.axes if ax.get_xlabel() == "longitude (degrees east)"]
    assert len(map_axes) == 2
    # about 25 arrows per axis at most
    quiver = next(c for c in map_axes[0].collections if isinstance(c, Quiver))
    assert quiver.N <= 25 * 25 and len(np.unique(quiver.X)) <= 25
    # the vorticity colour scale is symmetric
    mesh = map_axes[1].collections[0]
    assert mesh.norm.vmin == -mesh.norm.vmax > -np.inf
    assert map_axes[1].get_title(loc="left").endswith("SLA contours")


def test_quicklook_of_a_product_with_an_mdt_shows_the_adt(tmp_path):
    """With an MDT the height shown is the ADT (its contours follow the absolute current),
    on a sequential colour scale; the SLA's is symmetric about 0."""
    lat, lon, fields = eddy()
    mdt = 0.5 - 0.05 * (lat[:, None] - 30.0) * np.ones(lon.size)
    prov = ProductProvenance("demo-model", "a" * 64, mdt_source="file mdt.nc (test)")
    product = write_product(tmp_path, "demo", dt.date(2024, 3, 2), dt.date(2024, 3, 5), lat,
                            lon, fields, prov, mdt=mdt)
    fig = quicklook_figure(read_product(product))
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "absolute dynamic topography (m)" in labels
    assert "sea level anomaly (m)" not in labels
    map_axes = [ax for ax in fig.axes if ax.get_xlabel() == "longitude (degrees east)"]
    mesh = map_axes[0].collections[0]
    adt = fields["sla"] + mdt
    assert mesh.norm.vmin > np.nanmin(adt) - 1e-9 and mesh.norm.vmin > 0  # not symmetric
    assert map_axes[1].get_title(loc="left").endswith("ADT contours")
    # from arrays: an adt that is NaN everywhere falls back to the SLA
    fig = quicklook_figure(fields | {"adt": np.full_like(fields["sla"], np.nan)}, lat, lon)
    assert "sea level anomaly (m)" in [ax.get_ylabel() for ax in fig.axes]


def test_quicklook_from_arrays(tmp_path):
    lat, lon, fields = eddy(30, 40)
    path = write_quicklook(tmp_path / "q.png", fields, lat, lon, "arrays",
                           product_day=dt.date(2024, 1, 1), production_day=dt.date(2024, 1, 3))
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    fig = quicklook_figure(fields, lat, lon, "arrays", product_day=dt.date(2024, 1, 1))
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == "arrays\nproduct day 2024-01-01"
    with pytest.raises(ValueError, match="lat and lon are required"):
        quicklook_figure(fields, None, None)
    with pytest.raises(ValueError, match="fields lack"):
        quicklook_figure({"sla": fields["sla"]}, lat, lon)
    with pytest.raises(ValueError, match="uo has shape"):
        quicklook_figure(fields | {"uo": fields["uo"].T}, lat, lon)


def test_failed_quicklook_leaves_the_old_png(tmp_path, monkeypatch):
    lat, lon, fields = eddy(20, 20)
    path = tmp_path / "q.png"
    path.write_bytes(b"previous")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        write_quicklook(path, fields, lat, lon, "x")
    assert os.listdir(tmp_path) == ["q.png"]
    assert path.read_bytes() == b"previous"


def test_all_nan_and_constant_fields_still_draw(tmp_path):
    lat, lon, fields = eddy(20, 30)
    nan = {k: np.full_like(v, np.nan) for k, v in fields.items()}
    zero = {k: np.zeros_like(v) for k, v in fields.items()}
    for i, data in enumerate((nan, zero)):
        path = write_quicklook(tmp_path / f"{i}.png", data, lat, lon, "empty")
        assert path.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("shape", [(60, 90), (300, 30), (20, 400)])
def test_layout_fits_square_tall_and_wide_domains(shape):
    """Every text stays inside the figure, texts do not overlap, the maps keep the domain's
    shape (1 / cos(latitude) aspect) and matplotlib has nothing to warn about."""
    lat, lon, fields = eddy(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = quicklook_figure(fields, lat, lon, product_day=dt.date(2024, 1, 1))
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    # every axes with its tick labels, axis labels and titles, and the figure title
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    boxes.append(fig._suptitle.get_window_extent(renderer))
    for box in boxes:
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, box
        assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, box
    titles = [ax._left_title for ax in fig.axes if ax.get_title(loc="left")]
    assert len(titles) == 2
    left, right = (t.get_window_extent(renderer) for t in titles)
    assert left.x1 < right.x0, "the two panel titles overlap"
    map_axes = [ax for ax in fig.axes if ax.get_xlabel().startswith("longitude")]
    for ax in map_axes:
        box = ax.get_window_extent(renderer)
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        aspect = 1.0 / np.cos(np.deg2rad(np.mean(lat)))
        shown = (box.height / (y1 - y0)) / (box.width / (x1 - x0))
        assert shown == pytest.approx(aspect, rel=0.01)
        # the whole domain is shown
        assert x0 <= lon[0] and x1 >= lon[-1] and y0 <= lat[0] and y1 >= lat[-1]


# --------------------------------------------------------------------------------------------
# land


LAND_RGB = (0xB0, 0xB0, 0xB0)


def land_case(n_lat=60, n_lon=90):
    """The eddy without NaN, a land mask (a north-west corner and a 3x3 island at the eddy's
    centre, where the current is weak) and 1e6 on land in the fields."""
    lat = 30.0 + 0.1 * np.arange(n_lat)
    lon = -20.0 + 0.1 * np.arange(n_lon)
    lam, phi = np.meshgrid(lon, lat)
    sla = 0.25 * np.exp(-(((lam + 15.5) * 0.8) ** 2 + (phi - 33.0) ** 2) / 1.0)
    geo = derive_fields(sla, sla * 0, sla * 0, lat, lon)
    ocean = ~((phi > 34.5) & (lam < -17.0))
    ocean[28:31, 43:46] = False
    fields = {k: np.where(ocean, a, 1e6)
              for k, a in (("sla", sla), ("uo", geo["ugosa"] + 0.05), ("vo", geo["vgosa"]))}
    return lat, lon, fields, ocean


def _pixels(fig, ax, lon, lat):
    """RGB of the figure's pixels at the centres of the given cells of ``ax``."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    xy = ax.transData.transform(np.column_stack([lon, lat]))
    cols = np.floor(xy[:, 0]).astype(int)
    rows = image.shape[0] - 1 - np.floor(xy[:, 1]).astype(int)
    return image[rows, cols]


def _map_axes(fig):
    return [ax for ax in fig.axes if ax.get_xlabel() == "longitude (degrees east)"]


def _cmap_rgb(name):
    from matplotlib import colormaps

    return np.round(colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255)


def _check_land_is_grey(fig, lat, lon, ocean):
    """Land cells grey in both panels (the vorticity panel has no arrow: every land pixel;
    under the arrows of the other, all but a few: measured all), never a colour of either
    colour map."""
    jj, ii = np.nonzero(~ocean)
    land_lat, land_lon = lat[jj], lon[ii]
    ssh_ax, vort_ax = _map_axes(fig)
    colours = np.concatenate([_cmap_rgb("RdBu_r"), _cmap_rgb("viridis")])
    for ax, least in ((vort_ax, 1.0), (ssh_ax, 0.9)):
        rgb = _pixels(fig, ax, land_lon, land_lat).astype(float)
        grey = (rgb == LAND_RGB).all(axis=1)
        assert grey.mean() >= least, grey.mean()
        # no land pixel is within 10 levels of a colour map colour
        distance = np.abs(rgb[:, None, :] - colours[None, :, :]).max(axis=2).min(axis=1)
        assert (distance > 10).all()
    # and the sea is drawn in the colour map's colours, not in grey
    sea_rgb = _pixels(fig, vort_ax, lon[np.nonzero(ocean)[1]], lat[np.nonzero(ocean)[0]])
    assert not (sea_rgb == LAND_RGB).all(axis=1).any()


def test_land_is_drawn_grey_from_an_ocean_mask(tmp_path):
    lat, lon, fields, ocean = land_case()
    fig = quicklook_figure(fields, lat, lon, "land", ocean=ocean)
    _check_land_is_grey(fig, lat, lon, ocean)
    # the land values (1e6) are in no colour scale, no arrow is drawn on land
    ssh_ax, vort_ax = _map_axes(fig)
    assert ssh_ax.collections[0].norm.vmax < 1.0
    assert vort_ax.collections[0].norm.vmax < 1.0
    quiver = next(c for c in ssh_ax.collections if isinstance(c, Quiver))
    # the arrows left out (matplotlib keeps their mask in Umask) are those on land
    on_land = np.array([not ocean[np.argmin(np.abs(lat - y)), np.argmin(np.abs(lon - x))]
                        for x, y in zip(quiver.X, quiver.Y, strict=True)])
    assert on_land.sum() > 10
    np.testing.assert_array_equal(np.broadcast_to(quiver.Umask, on_land.shape), on_land)
    path = write_quicklook(tmp_path / "land.png", fields, lat, lon, "land", ocean=ocean)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_land_is_read_from_the_product_sftof(tmp_path):
    lat, lon, fields, ocean = land_case()
    prov = ProductProvenance("demo-model", "a" * 64)
    product = write_product(tmp_path, "demo", dt.date(2024, 3, 2), dt.date(2024, 3, 5), lat,
                            lon, fields, prov, ocean=ocean)
    fig = quicklook_figure(read_product(product))
    _check_land_is_grey(fig, lat, lon, ocean)
    # with an ADT (viridis) too
    mdt = 0.5 - 0.05 * (lat[:, None] - 30.0) * np.ones(lon.size)
    prov = ProductProvenance("demo-model", "a" * 64, mdt_source="file mdt.nc (test)")
    product = write_product(tmp_path / "mdt", "demo", dt.date(2024, 3, 2),
                            dt.date(2024, 3, 5), lat, lon, fields, prov, mdt=mdt, ocean=ocean)
    fig = quicklook_figure(read_product(product))
    assert "absolute dynamic topography (m)" in [ax.get_ylabel() for ax in fig.axes]
    _check_land_is_grey(fig, lat, lon, ocean)


def test_without_land_nothing_is_painted(tmp_path):
    """No mask, an all-sea mask and an all-sea product draw the same picture as before the
    land mask: one mesh per panel, no grey layer."""
    lat, lon, fields = eddy(30, 40)
    images = []
    for ocean in (None, np.ones((30, 40), bool)):
        fig = quicklook_figure(fields, lat, lon, "x", product_day=dt.date(2024, 1, 1),
                               ocean=ocean)
        for ax in _map_axes(fig):
            assert sum(type(c).__name__ == "QuadMesh" for c in ax.collections) == 1
        fig.canvas.draw()
        images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
    np.testing.assert_array_equal(images[0], images[1])
    prov = ProductProvenance("demo-model", "a" * 64)
    product = write_product(tmp_path, "demo", dt.date(2024, 3, 2), dt.date(2024, 3, 5), lat,
                            lon, fields, prov)
    fig = quicklook_figure(read_product(product))
    for ax in _map_axes(fig):
        assert sum(type(c).__name__ == "QuadMesh" for c in ax.collections) == 1
    with pytest.raises(TypeError, match="ocean must be a boolean array"):
        quicklook_figure(fields, lat, lon, ocean=np.ones((30, 40)))
    with pytest.raises(ValueError, match="ocean has shape"):
        quicklook_figure(fields, lat, lon, ocean=np.ones((40, 30), bool))

"""Tests of varnet.operational.quicklook: content of the figure, atomic PNG writes."""

from __future__ import annotations

import datetime as dt
import os

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
    ssh = 0.25 * np.exp(-(((lam + 15.5) * 0.8) ** 2 + (phi - 33.0) ** 2) / 1.0)
    geo = derive_fields(ssh, ssh * 0, ssh * 0, lat, lon)
    land = (lam > -12.5) & (phi < 31.0)
    ssh, uo, vo = (np.where(land, np.nan, a) for a in (ssh, geo["ugos"], geo["vgos"]))
    return lat, lon, {"ssh": ssh, "uo": uo, "vo": vo}


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
        quicklook_figure({"ssh": fields["ssh"]}, lat, lon)
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

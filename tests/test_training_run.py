"""Training runs end to end on the tiny synthetic ocean: run directory, resume, data,
normalisation, evaluation and the command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

# Needs torch: listed in conftest.TORCH_MODULES (marked `torch`, not collected without it).
torch = pytest.importorskip("torch")

import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from varnet.datamodel.grid import Grid, block_mean  # noqa: E402
from varnet.io.readers import read_truth  # noqa: E402
from varnet.kernels.oi import OIConfig  # noqa: E402
from varnet.scores import Fields, score_table  # noqa: E402
from varnet.training.checkpoint import load_checkpoint, read_checkpoint  # noqa: E402
from varnet.training.cli import main  # noqa: E402
from varnet.training.config import (  # noqa: E402
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)
from varnet.training.data import WindowDataset  # noqa: E402
from varnet.training.reconstruct import reconstruct_period  # noqa: E402
from varnet.training.train import prepared_periods, train  # noqa: E402

#: Torch training and export end to end: the slow tier (``make test-fast`` leaves it out).
pytestmark = pytest.mark.slow

TRAIN = (dt.date(2012, 10, 1), dt.date(2012, 10, 14))
VALIDATION = (dt.date(2012, 10, 15), dt.date(2012, 10, 19))
TEST = (dt.date(2012, 10, 22), dt.date(2012, 10, 28))


def tiny_config(osse: Path, kind: str = "4dvarnet", epochs: int = 2, **optim) -> TrainConfig:
    data = DataConfig(osse=str(osse), coarsen=2, window_days=3, patch=(32, 32), stride=(16, 16),
                      weight_crop=(1, 4, 4), train=TRAIN, validation=VALIDATION, test=TEST,
                      prepare_workers=1, oi=OIConfig(time_scale_days=2.0))
    model = ModelConfig(kind=kind, dim_ae=4, kernel=3, lstm_channels=6, n_grad=2, n_cascades=2,
                        sst_features=3, dropout=0.0)
    loss = LossConfig(large_scale_pool=8, cascade_weights=(1.0, 2.0))
    opt = OptimConfig(epochs=epochs, batch_size=2, threads=1, **optim)
    return TrainConfig(name=f"tiny-{kind}", data=data, model=model, loss=loss, optim=opt)


@pytest.fixture(scope="module")
def osse(tiny_ocean, tmp_path_factory) -> Path:
    """A copy of the tiny ocean whose prepared-array cache is shared by this module."""
    return Path(shutil.copytree(tiny_ocean.out_dir, tmp_path_factory.mktemp("t") / "osse"))


@pytest.fixture(scope="module")
def trained(osse, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    train(tiny_config(osse), run, progress=False)
    return run


def test_a_run_directory_holds_config_log_checkpoints_and_figure(trained):
    for name in ("config.toml", "log.csv", "checkpoints/best.pt", "checkpoints/last.pt",
                 "figures/losses.png"):
        assert (trained / name).is_file(), name
    lines = (trained / "log.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch,train_loss")
    assert (trained / "figures/losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = read_checkpoint(trained / "checkpoints/best.pt")
    assert "optimizer_state" not in best  # the shipped file needs weights only
    assert np.isfinite(best["val_loss"])


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(osse, tmp_path, trained):
    run = tmp_path / "resumed"
    train(tiny_config(osse, epochs=1), run, progress=False)
    train(tiny_config(osse, epochs=2), run, resume=True, progress=False)
    a = read_checkpoint(run / "checkpoints/last.pt")["model_state"]
    b = read_checkpoint(trained / "checkpoints/last.pt")["model_state"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert len((run / "log.csv").read_text().splitlines()) == 3


def test_a_second_run_into_the_same_directory_is_refused(osse, trained):
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny_config(osse), trained, progress=False)


def test_resume_refuses_another_model(osse, tmp_path, trained):
    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    other = tiny_config(osse)
    other = dataclasses.replace(other, model=dataclasses.replace(other.model, dim_ae=5))
    with pytest.raises(ValueError, match="different configuration"):
        train(other, run, resume=True, progress=False)


def test_normalisation_comes_from_the_training_period_only(osse, trained):
    stats = load_checkpoint(trained / "checkpoints/best.pt").model.stats
    truth = read_truth(osse / "truth.nc")
    days = np.arange(np.datetime64(TRAIN[0]), np.datetime64(TRAIN[1]) + 1)
    period = truth.sel(time=days + np.timedelta64(12, "h"))
    sla = block_mean(period["sla"].values, 2)
    assert stats.ssh_mean == pytest.approx(float(np.mean(sla)), rel=1e-5, abs=1e-7)
    assert stats.ssh_std == pytest.approx(float(np.std(sla)), rel=1e-5)
    uv = np.sqrt(np.mean(block_mean(period["u"].values, 2) ** 2)
                 + np.mean(block_mean(period["v"].values, 2) ** 2))
    assert stats.uv_std == pytest.approx(float(uv), rel=1e-5)
    whole = block_mean(truth["sla"].values, 2)
    assert abs(stats.ssh_std - float(np.std(whole))) > 1e-4  # the other days differ


def test_mask_swap_augmentation_observes_the_truth_on_another_window(osse):
    periods = prepared_periods(tiny_config(osse), progress=False)
    data = WindowDataset(periods["train"], 3, (32, 32), (32, 32), augment=True, seed=1)
    n = len(data) // 2
    swapped = [i for i in range(n, 2 * n)
               if data.permutation[int(data.origins[i - n][0])] != data.origins[i - n][0]]
    assert swapped, "the permutation moved no window"
    i = swapped[0]
    plain, aug = data[i - n], data[i]
    other_t = int(data.layout.time_starts[data.permutation[int(data.origins[i - n][0])]])
    y, x = (int(v) for v in data.origins[i - n][1:])
    other_mask = np.isfinite(periods["train"].obs[other_t:other_t + 3, y:y + 32, x:x + 32])
    np.testing.assert_array_equal(np.isfinite(aug["obs"].numpy()), other_mask)
    np.testing.assert_array_equal(aug["obs"].numpy()[other_mask],
                                  plain["ssh"].numpy()[other_mask])
    torch.testing.assert_close(aug["oi"], plain["oi"])


class _Oracle(torch.nn.Module):
    """A 'model' returning its inputs: stitching must give them back exactly."""

    window = 3
    use_sst = True

    def forward(self, oi, obs, sst):
        return oi, obs, sst


def test_a_perfect_reconstruction_scores_perfectly(osse):
    periods = prepared_periods(tiny_config(osse), progress=False)
    test = periods["test"]
    truth = dataclasses.replace(test, oi=test.ssh + 0.5, obs=test.u, sst=test.v)
    ssh, u, v = reconstruct_period(_Oracle(), truth, (16, 16), (8, 8), (4, 4), batch_size=3)
    # the crop leaves the outer 4 cells without weight (NaN); everything inside is exact
    assert np.isnan(ssh[:, :4]).all() and np.isnan(u[:, :, -4:]).all()
    box = (slice(1, test.ndays - 1), slice(4, -4), slice(4, -4))
    inside = (slice(None), slice(4, -4), slice(4, -4))
    np.testing.assert_array_equal(ssh[inside], test.ssh[box] + 0.5)
    np.testing.assert_array_equal(u[inside], test.u[box])
    np.testing.assert_array_equal(v[inside], test.v[box])
    t = Fields(ssh=test.ssh[box] + 0.5, u=test.u[box], v=test.v[box])
    rec = Fields(ssh=ssh[inside], u=u[inside], v=v[inside])
    table = score_table(t, {"perfect": rec}, test.lat[4:-4], test.lon[4:-4],
                        np.arange(ssh.shape[0], dtype=float))
    row = table.loc["perfect"]
    for col in ("tau_uv", "tau_vort", "tau_div", "tau_strain"):
        assert row[col] == pytest.approx(100.0)
    assert row["mu_ssh"] == pytest.approx(1.0)


def test_evaluate_writes_the_table_maps_and_curves(trained, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(trained), "--out", str(tmp_path),
                                       "--crop-deg", "0.4", "--quiet"])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "scores.md").read_text()
    for row in ("Geostrophy of true SSH", "OI geostrophy", "4DVarNet SSH-SST"):
        assert f"| {row} |" in table
    csv = (tmp_path / "scores.csv").read_text().splitlines()
    assert csv[0].startswith("method,lambda_x_u") and len(csv) == 4
    true_row = dict(zip(csv[0].split(","), csv[1].split(","), strict=True))
    assert float(true_row["tau_uv"]) > 90.0  # geostrophy explains the synthetic currents
    for png in ("maps.png", "psd_scores_u.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def _with_land(osse: Path, folder: Path, ocean: np.ndarray) -> Path:
    """A copy of the synthetic ocean ``osse`` whose truth is NaN on land (``ocean`` False),
    as a synthetic ocean with a coast writes it."""
    coast = Path(shutil.copytree(osse, folder, ignore=shutil.ignore_patterns("prepared")))
    truth = xr.load_dataset(osse / "truth.nc")
    for var in truth.data_vars.values():
        if var.dims[-2:] == ("lat", "lon"):
            var.values[..., ~ocean] = np.nan
    truth.to_netcdf(coast / "truth.nc")
    return coast


def test_evaluate_on_an_ocean_with_land_also_scores_the_sea_beyond_the_coastal_band(
        trained, osse, tmp_path, land_mask):
    with xr.open_dataset(osse / "truth.nc") as truth:
        lat, lon = truth["lat"].values, truth["lon"].values
    ocean = land_mask.corner_and_island(lat, lon)
    coast = _with_land(osse, tmp_path / "coast", ocean)
    args = ["evaluate", str(trained), "--osse", str(coast), "--crop-deg", "0.4", "--quiet"]
    # a band leaving less than half the domain sea is refused before any reconstruction
    result = CliRunner().invoke(main, [*args, "--coastal-band-km", "150", "--out",
                                       str(tmp_path / "wide")])
    assert result.exit_code == 2 and "coastal band 150 km: only 40.1 %" in result.output
    assert not (tmp_path / "wide").exists()

    out = tmp_path / "evaluation"
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    inner = (slice(4, -4), slice(4, -4))  # 0.4 degree of 0.1 degree cells
    offshore = (ocean & ~Grid(lat, lon, ocean).coastal_band(20.0))[inner]
    sea_line = f"Scored over all {ocean[inner].sum()} sea cells of the cropped domain"
    offshore_line = (f"Scored over the {offshore.sum()} sea cells of the cropped domain "
                     "farther than 20 km from land")
    assert sea_line in (out / "scores.md").read_text()
    assert offshore_line in (out / "scores_offshore_20km.md").read_text()
    assert result.output.index(sea_line) < result.output.index(offshore_line)
    tables = [pd.read_csv(out / name, index_col=0)
              for name in ("scores.csv", "scores_offshore_20km.csv")]
    assert list(tables[0].index) == list(tables[1].index) == [
        "Geostrophy of true SSH", "OI geostrophy", "4DVarNet SSH-SST"]
    assert (tables[0]["tau_uv"] != tables[1]["tau_uv"]).all()
    # the offshore table scores the offshore cells of fields derived from all the sea: its
    # truth row is score_table's with those masks
    days = np.arange(np.datetime64(TEST[0]), np.datetime64(TEST[1]) + 1)
    with xr.open_dataset(coast / "truth.nc") as truth:
        period = truth.sel(time=days + np.timedelta64(12, "h"))
        fields = Fields(**{k: period[k].values[(slice(None), *inner)].astype(np.float64)
                           for k in ("ssh", "u", "v")})
    direct = score_table(fields, {"Geostrophy of true SSH": Fields(ssh=fields.ssh)},
                         lat[inner[0]], lon[inner[1]], np.arange(days.size, dtype=float),
                         ocean=ocean[inner], scored=offshore)
    np.testing.assert_allclose(tables[1].loc["Geostrophy of true SSH"].to_numpy(),
                               direct.loc["Geostrophy of true SSH"].to_numpy(), rtol=1e-5)

    result = CliRunner().invoke(main, [*args, "--coastal-band-km", "0", "--out",
                                       str(tmp_path / "no-band")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "no-band").glob("scores*")) == [
        "scores.csv", "scores.md"]


def test_cli_names_the_bad_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[model]\nn_grad = -1\n')
    result = CliRunner().invoke(main, ["--config", str(bad)])
    assert result.exit_code == 2
    assert "model.n_grad" in result.output and "bad.toml" in result.output


def test_two_process_distributed_training_on_cpu(osse, tmp_path):
    """torchrun with two CPU processes (gloo): DistributedDataParallel trains one model."""
    import subprocess
    import sys

    from varnet.config import dump_toml

    config = tmp_path / "tiny.toml"
    config.write_text(dump_toml(tiny_config(osse, epochs=1).to_mapping()))
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "-m", "varnet.training.cli", "--config", str(config), "--run-dir", str(run),
           "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained tiny-4dvarnet") == 1  # rank 0 reports, once
    assert len((run / "log.csv").read_text().splitlines()) == 2
    assert load_checkpoint(run / "checkpoints/best.pt").config.optim.epochs == 1

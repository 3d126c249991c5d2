"""The 4DVarNet and direct-inversion models, their losses and checkpoints (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest

# Needs torch: listed in conftest.TORCH_MODULES (marked `torch`, not collected without it).
torch = pytest.importorskip("torch")

from varnet.kernels.paper_derivatives import paper_geostrophy  # noqa: E402
from varnet.kernels.patches import patch_weight  # noqa: E402
from varnet.training.checkpoint import (  # noqa: E402
    ModelGridInfo,
    load_checkpoint,
    save_checkpoint,
)
from varnet.training.config import LossConfig, ModelConfig, TrainConfig  # noqa: E402
from varnet.training.losses import Metrics, geostrophic_currents, weighted_mse  # noqa: E402
from varnet.training.model import (  # noqa: E402
    FourDVarNet,
    Normalisation,
    build_model,
    hierarchical_mean,
)
from varnet.training.objective import Objective  # noqa: E402

T, H, W = 3, 16, 16
STATS = Normalisation(ssh_mean=0.01, ssh_std=0.08, sst_mean=291.0, sst_std=1.5, uv_std=0.3)


def tiny(kind: str = "4dvarnet", use_sst: bool = True, n_grad: int = 2, cascades: int = 2,
         dropout: float = 0.0) -> ModelConfig:
    return ModelConfig(kind=kind, use_sst=use_sst, dim_ae=4, kernel=3, pool=4, lstm_channels=6,
                       n_grad=n_grad, n_cascades=cascades, sst_features=3, dropout=dropout)


def batch(b: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (b, T, H, W)
    ssh = 0.1 * torch.randn(shape, generator=g)
    obs = torch.where(torch.rand(shape, generator=g) < 0.2, ssh, torch.tensor(float("nan")))
    sst = 290.0 + torch.randn(shape, generator=g)
    sst[:, :, :3, :3] = float("nan")  # a cloud
    lat = torch.linspace(35.0, 35.0 + 0.1 * (H - 1), H).repeat(b, 1)
    lon = torch.linspace(-60.0, -60.0 + 0.1 * (W - 1), W).repeat(b, 1)
    return {"oi": 0.5 * ssh, "obs": obs, "sst": sst, "ssh": ssh,
            "u": 0.2 * torch.randn(shape, generator=g), "v": 0.2 * torch.randn(shape, generator=g),
            "lat": lat, "lon": lon}


def objective(model, cascades: int = 2) -> Objective:
    weight = torch.from_numpy(patch_weight((T, H, W), (1, 2, 2))).float()
    loss = LossConfig(large_scale_pool=4, cascade_weights=(1.0, 2.0, 2.0)[:cascades])
    return Objective(model, weight, loss)


@pytest.mark.parametrize("kind,use_sst", [("4dvarnet", True), ("4dvarnet", False),
                                          ("direct", True), ("direct", False)])
def test_training_steps_reduce_the_loss_on_a_fixed_batch(kind, use_sst):
    torch.manual_seed(0)
    model = build_model(tiny(kind, use_sst), T, STATS)
    obj = objective(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = batch()
    first = float(obj(data).total.detach())
    for _ in range(15):
        result = obj(data)
        opt.zero_grad()
        result.total.backward()
        opt.step()
    assert float(obj(data).total.detach()) < 0.8 * first


def test_gradients_reach_every_parameter_group():
    torch.manual_seed(1)
    model = build_model(tiny(), T, STATS)
    result = objective(model)(batch())
    result.total.backward()
    groups = {"prior", "cost", "sst_term", "modulator"}
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        if name.split(".")[0] in groups and float(p.grad.abs().sum()) > 0:
            groups.discard(name.split(".")[0])
    assert not groups, f"parameter groups without any non-zero gradient: {groups}"


def test_solver_with_zero_steps_returns_its_initial_state():
    model = build_model(tiny(n_grad=0), T, STATS)
    data = batch()
    inputs = model.encode_inputs(data["oi"], data["obs"], data["sst"])
    states = model.solve(inputs)
    expected = model.initial_state(inputs)
    assert len(states) == 2
    for s in states:
        torch.testing.assert_close(s, expected, rtol=0, atol=0)
    # physically: SSH = OI + observed anomaly where observed, the OI elsewhere
    ssh, u, v = model(data["oi"], data["obs"], data["sst"])
    observed = torch.isfinite(data["obs"])
    torch.testing.assert_close(ssh[observed], data["obs"][observed], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ssh[~observed], data["oi"][~observed], rtol=1e-5, atol=1e-6)
    assert float(u.abs().max()) == 0.0 and float(v.abs().max()) == 0.0


@pytest.mark.parametrize("kind", ["4dvarnet", "direct"])
def test_outputs_do_not_depend_on_batch_composition(kind):
    torch.manual_seed(2)
    model = build_model(tiny(kind), T, STATS).eval()
    a, b = batch(1, seed=3), batch(2, seed=4)
    alone = model(a["oi"], a["obs"], a["sst"])
    together = model(*(torch.cat([a[k], b[k]]) for k in ("oi", "obs", "sst")))
    for x, y in zip(alone, together, strict=True):
        torch.testing.assert_close(x[0], y[0], rtol=1e-5, atol=1e-7)


def test_checkpoint_round_trip_is_exact(tmp_path):
    torch.manual_seed(3)
    config = TrainConfig(name="t", model=tiny(), loss=LossConfig(cascade_weights=(1.0, 2.0)))
    model = build_model(config.model, config.data.window_days, STATS)
    grid = ModelGridInfo.from_axes(np.arange(35, 36.6, 0.1), np.arange(-60, -58.4, 0.1))
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, config, grid, {"epoch": 4})
    loaded = load_checkpoint(path)
    assert loaded.config == config
    assert loaded.payload["epoch"] == 4
    assert loaded.model.stats == STATS
    for (k, v), (k2, v2) in zip(model.state_dict().items(),
                                loaded.model.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_foreign_file_is_refused_as_checkpoint(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not a varnet checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_hierarchical_mean_equals_the_mean():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(hierarchical_mean(x, (1, 2, 3)).flatten(),
                               x.mean(dim=(1, 2, 3)))


def test_weighted_mse_by_hand():
    err = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.tensor([[0.0, 0.5], [1.0, 0.0]])
    # entries with positive weight: (0.5*2)^2 = 1 and (1*3)^2 = 9 -> mean 5
    assert float(weighted_mse(err, w)) == pytest.approx(5.0)
    assert float(weighted_mse(err, torch.zeros_like(w))) == 0.0


def test_torch_geostrophy_matches_the_numpy_scoring_version():
    lat = np.linspace(33.0, 36.0, 31)
    lon = np.linspace(-62.0, -59.0, 31)
    yy, xx = np.meshgrid(lat, lon, indexing="ij")
    ssh = 0.3 * np.exp(-((yy - 34.5) ** 2 + (xx + 60.5) ** 2) / 0.5)[None]
    u_ref, v_ref = paper_geostrophy(ssh, lat, lon, sigma=0.0)
    metrics = Metrics.from_coordinates(torch.tensor(lat)[None], torch.tensor(lon)[None])
    u, v = geostrophic_currents(torch.tensor(ssh)[None], metrics)
    inner = (slice(None), slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(u[0].numpy()[inner], u_ref[inner], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(v[0].numpy()[inner], v_ref[inner], rtol=2e-3, atol=1e-4)


def test_sst_model_needs_sst():
    model = build_model(tiny(), T, STATS)
    data = batch()
    with pytest.raises(ValueError, match="uses SST"):
        model(data["oi"], data["obs"])


def test_four_dvarnet_ssh_is_large_scale_plus_anomaly():
    model = FourDVarNet(tiny(), T, STATS)
    x = torch.randn(1, 5 * T, H, W)
    ssh, u, v = model.outputs(x)
    torch.testing.assert_close(ssh, x[:, :T] + x[:, 2 * T: 3 * T])
    torch.testing.assert_close(u, x[:, 3 * T: 4 * T])
    torch.testing.assert_close(v, x[:, 4 * T:])


def test_every_shipped_training_configuration_is_valid():
    from pathlib import Path

    from varnet.training.config import load_config

    root = Path(__file__).resolve().parents[1] / "configs"
    names = sorted(p.name for p in root.glob("*.toml") if not p.name.startswith(("osse", "ops")))
    assert {"demo.toml", "paper-4dvarnet-ssh-sst.toml", "paper-4dvarnet-ssh.toml",
            "paper-direct-ssh-sst.toml", "paper-direct-ssh.toml"} <= set(names)
    for name in names:
        config = load_config(root / name)
        # the paper's sizes in the paper configurations
        if name.startswith("paper-4dvarnet"):
            assert (config.model.dim_ae, config.model.lstm_channels, config.model.n_grad,
                    config.model.n_cascades) == (50, 150, 5, 3)
    demo = load_config(root / "demo.toml")
    assert demo.model.kind == "4dvarnet" and demo.model.use_sst

"""The 4DVarNet and direct-inversion models, their losses and checkpoints (tiny sizes)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

# Needs torch: listed in conftest.TORCH_MODULES (marked `torch`, not collected without it).
torch = pytest.importorskip("torch")

from varnet.datamodel.grid import Grid  # noqa: E402
from varnet.kernels.paper_derivatives import paper_geostrophy  # noqa: E402
from varnet.kernels.patches import patch_weight  # noqa: E402
from varnet.training.checkpoint import (  # noqa: E402
    load_checkpoint,
    save_checkpoint,
)
from varnet.training.config import LossConfig, ModelConfig, TrainConfig  # noqa: E402
from varnet.training.losses import (  # noqa: E402
    Metrics,
    Targets,
    geostrophic_currents,
    reconstruction_loss,
    smoothed_divergence_strain,
    weighted_mse,
)
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
    grid = Grid(np.arange(35, 36.6, 0.1), np.arange(-60, -58.4, 0.1))
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


# ------------------------------------------------------------------------------------------
# land mask
# ------------------------------------------------------------------------------------------

#: Every reconstruction term on (strain included), with the paper's other weights.
ALL_TERMS = LossConfig(strain=10.0, large_scale_pool=4)
SSH_STD, UV_STD = STATS.ssh_std, STATS.uv_std


def land_mask() -> torch.Tensor:
    """(H, W) sea mask, True on sea: a land corner and an island."""
    ocean = torch.ones(H, W, dtype=torch.bool)
    ocean[:4, :5] = False
    ocean[8:11, 9:12] = False
    return ocean


def loss_inputs(seed: int = 0) -> tuple[list[torch.Tensor], Targets]:
    """Normalised outputs (ssh, u, v) and targets of a fixed-seed batch."""
    data = batch(seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    outputs = [torch.randn(data["ssh"].shape, generator=g) for _ in range(3)]
    weight = torch.from_numpy(patch_weight((T, H, W), (1, 2, 2))).float()
    targets = Targets(ssh=data["ssh"] / SSH_STD, u=data["u"] / UV_STD, v=data["v"] / UV_STD,
                      oi=data["oi"] / SSH_STD, weight=weight,
                      metrics=Metrics.from_coordinates(data["lat"], data["lon"]))
    return outputs, targets


def loss_terms(outputs, targets, ocean=None, config=ALL_TERMS) -> dict[str, torch.Tensor]:
    return reconstruction_loss(*outputs, targets, config, SSH_STD, UV_STD, ocean=ocean)


def on_land(x: torch.Tensor, ocean: torch.Tensor, value: float) -> torch.Tensor:
    """``x`` (B, T, H, W) with ``value`` on land; ``ocean`` (H, W) or (B, H, W)."""
    sea = ocean if ocean.dim() == 2 else ocean[:, None]
    return torch.where(sea, x, value)


def test_loss_without_mask_or_with_an_all_sea_mask_is_bit_identical():
    outputs, targets = loss_inputs()
    base = loss_terms(outputs, targets)
    assert set(base) == {"ssh", "grad_ssh", "uv", "uv_geo", "div", "strain", "large_scale"}
    for ocean in (torch.ones(H, W, dtype=torch.bool), torch.ones(2, H, W),
                  torch.ones(2, 1, H, W, dtype=torch.bool)):
        terms = loss_terms(outputs, targets, ocean)
        for name, value in base.items():
            assert torch.equal(terms[name], value), name
    err, w = outputs[0], targets.weight
    assert torch.equal(weighted_mse(err, w, torch.ones(H, W, dtype=torch.bool)),
                       weighted_mse(err, w))
    # the whole objective, for both kinds of model, with the batch's all-sea mask
    for kind in ("4dvarnet", "direct"):
        torch.manual_seed(4)
        obj = objective(build_model(tiny(kind), T, STATS))
        data = batch()
        plain = obj(data)
        sea = obj({**data, "ocean": torch.ones(2, H, W, dtype=torch.bool)})
        assert torch.equal(plain.total, sea.total) and plain.terms == sea.terms


def test_land_outputs_and_truth_do_not_enter_the_loss():
    outputs, targets = loss_inputs(seed=1)
    for ocean in (land_mask(), torch.stack([land_mask(), land_mask().flip(-1)])):
        zeros = [on_land(x, ocean, 0.0) for x in outputs]
        garbage = [on_land(x, ocean, 1e3) for x in outputs]
        nan_truth = dataclasses.replace(
            targets, **{k: on_land(getattr(targets, k), ocean, float("nan"))
                        for k in ("ssh", "u", "v", "oi")})
        reference = loss_terms(zeros, targets, ocean)
        # exact: the terms sum the same sea values in the same order
        for outs, truth in ((garbage, targets), (zeros, nan_truth), (garbage, nan_truth)):
            terms = loss_terms(outs, truth, ocean)
            for name, value in reference.items():
                assert torch.equal(terms[name], value), name
        assert all(torch.isfinite(v) for v in reference.values())
        # without the mask the land garbage dominates
        assert loss_terms(garbage, targets)["ssh"] > 100 * reference["ssh"]
        # the gradient with respect to the outputs on land is exactly zero
        leaves = [x.clone().requires_grad_() for x in garbage]
        sum(loss_terms(leaves, nan_truth, ocean).values()).backward()
        land = ~(ocean if ocean.dim() == 3 else ocean.expand(2, H, W))
        for x in leaves:
            grad = x.grad.permute(0, 2, 3, 1)  # (B, H, W, T)
            assert torch.equal(grad[land], torch.zeros_like(grad[land]))
            assert bool((grad[~land] != 0).any())


def test_derivative_terms_use_no_difference_across_the_coast():
    from scipy import ndimage

    ocean = land_mask()
    outputs, targets = loss_inputs(seed=2)
    ssh = on_land(outputs[0], ocean, 1e3)
    # geostrophic currents: kept on the sea cells whose 4 neighbours are sea (the patch edge
    # does not erode: the stencil reflects the patch there)
    cross = ndimage.generate_binary_structure(2, 1)
    kept = torch.from_numpy(ndimage.binary_erosion(ocean.numpy(), cross, border_value=1))
    geo_only = LossConfig(ssh=0.0, grad_ssh=0.0, uv=0.0, uv_geo=1.0, div=0.0, strain=0.0,
                          large_scale=0.0)
    scale = SSH_STD / UV_STD
    ug, vg = geostrophic_currents(ssh * scale, targets.metrics)
    tu, tv = geostrophic_currents(targets.ssh * scale, targets.metrics)
    expected = (weighted_mse(ug - tu, targets.weight, kept)
                + weighted_mse(vg - tv, targets.weight, kept))
    got = loss_terms([ssh, *outputs[1:]], targets, ocean, geo_only)["uv_geo"]
    assert torch.equal(got, expected)
    # divergence and strain: the smoothing is normalised over sea, so a uniform current has
    # neither, up to rounding, even next to the coast (garbage on land would give ~0.1)
    u = on_land(torch.full((2, T, H, W), 0.7), ocean, 1e3)
    v = on_land(torch.full((2, T, H, W), -0.4), ocean, -1e3)
    div, strain = smoothed_divergence_strain(u, v, targets.metrics, 5, ocean)
    assert float(div[..., kept].abs().max()) < 1e-9
    assert float(strain[..., kept].abs().max()) < 1e-9
    div_plain, _ = smoothed_divergence_strain(u, v, targets.metrics, 5)
    assert float(div_plain[..., kept].abs().max()) > 1e-2


def test_the_sea_mask_reaches_samples_statistics_and_validation():
    from varnet.training.data import PeriodArrays, WindowDataset, normalisation_from
    from varnet.training.train import _validate

    rng = np.random.default_rng(0)
    nd, ny, nx = 6, H + 4, W + 2
    ocean = np.ones((ny, nx), dtype=bool)
    ocean[:5, :6] = False

    def field(offset: float = 0.0) -> np.ndarray:
        return (offset + rng.standard_normal((nd, ny, nx))).astype(np.float32)

    fields = {"oi": field(), "obs": field(), "sst": field(290.0), "ssh": field(), "u": field(),
              "v": field()}
    axes = {"lat": np.linspace(35.0, 35.0 + 0.1 * (ny - 1), ny),
            "lon": np.linspace(-60.0, -60.0 + 0.1 * (nx - 1), nx),
            "days": np.arange(np.datetime64("2012-10-01"), np.datetime64("2012-10-07"))}
    junk = {k: np.where(ocean, a, np.float32(1e3)) for k, a in fields.items()}
    masked = PeriodArrays(**junk, **axes, ocean=ocean)
    stats = normalisation_from(masked)
    sea_ssh = fields["ssh"][:, ocean].astype(np.float64)
    assert (stats.ssh_mean, stats.ssh_std) == (float(np.nanmean(sea_ssh)),
                                               float(np.nanstd(sea_ssh)))
    assert normalisation_from(PeriodArrays(**fields, **axes)) != stats
    sample = WindowDataset(masked, T, (H, W), (4, 2))[3]
    assert sample["ocean"].dtype == torch.bool and sample["ocean"].shape == (H, W)
    assert "ocean" not in WindowDataset(PeriodArrays(**fields, **axes), T, (H, W), (4, 2))[0]
    with pytest.raises(ValueError, match="ocean"):
        PeriodArrays(**fields, **axes, ocean=ocean[1:])
    # validation scores: an all-sea mask changes nothing, land truth is left out
    torch.manual_seed(5)
    obj = objective(build_model(tiny(), T, STATS))
    data = batch()
    cpu = torch.device("cpu")
    plain = _validate(obj, [data], cpu)
    assert _validate(obj, [{**data, "ocean": torch.ones(2, H, W, dtype=torch.bool)}], cpu) == plain
    sea = land_mask().expand(2, H, W)
    with_land = [{**data, "ocean": sea,
                  **{k: on_land(data[k], sea, value) for k in ("ssh", "u", "v")}}
                 for value in (float("nan"), 0.0)]
    scores = [_validate(obj, [b], cpu) for b in with_land]
    assert scores[0] == scores[1] and all(math.isfinite(s) for s in scores[0].values())


def test_a_loss_whose_weights_are_all_zero_is_refused_naming_it():
    import dataclasses

    from varnet.config import ConfigError

    weights = ("ssh", "grad_ssh", "uv", "uv_geo", "div", "strain", "prior", "large_scale",
               "first_guess")
    zero = dataclasses.replace(LossConfig(), **dict.fromkeys(weights, 0.0))
    with pytest.raises(ConfigError, match=r"every loss weight .* is zero: nothing to train"):
        zero.validate()
    dataclasses.replace(zero, uv=1.0).validate()

"""The training objective of a batch: per cascade block, reconstruction terms plus the
4DVarNet's prior and first-guess terms, combined with the cascade weights (paper 4.1).

A batch may carry a sea mask, ``batch["ocean"]`` (bool, True on sea, (B, H, W)): the
reconstruction and first-guess terms then follow the land rules of
:mod:`varnet.training.losses`, and the prior term averages over sea cells only (its true
state has 0, the normalised mean, on land). Without it the loss is unchanged, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from varnet.training.config import LossConfig
from varnet.training.losses import (
    Metrics,
    Targets,
    reconstruction_loss,
    sea_mask,
    weighted_mse,
    weighted_total,
)
from varnet.training.model import DirectInversion, EncodedInputs, FourDVarNet


@dataclass
class BatchLoss:
    """The loss of a batch.

    Attributes
    ----------
    total : Tensor
        Scalar to minimise (cascade-weighted sum over blocks).
    last_block : float
        Loss of the last cascade block (the paper's validation loss).
    terms : dict of str to float
        Unweighted terms of the last block, for the log.
    """

    total: Tensor
    last_block: float
    terms: dict[str, float]


def encode_batch(
    model: FourDVarNet | DirectInversion, batch: dict[str, Tensor], weight: Tensor
) -> tuple[EncodedInputs, Targets]:
    """Normalised inputs and targets of a batch of samples from a WindowDataset."""
    sst = batch["sst"] if model.use_sst else None
    inputs = model.encode_inputs(batch["oi"], batch["obs"], sst)
    stats = model.stats
    targets = Targets(
        ssh=(batch["ssh"] - stats.ssh_mean) / stats.ssh_std,
        u=batch["u"] / stats.uv_std,
        v=batch["v"] / stats.uv_std,
        oi=inputs.oi,
        weight=weight,
        metrics=Metrics.from_coordinates(batch["lat"], batch["lon"]),
    )
    return inputs, targets


def _block_terms(
    ssh: Tensor, u: Tensor, v: Tensor, targets: Targets, config: LossConfig,
    model: FourDVarNet | DirectInversion, sea: Tensor | None = None,
) -> dict[str, Tensor]:
    stats = model.stats
    return reconstruction_loss(ssh, u, v, targets, config, stats.ssh_std, stats.uv_std,
                               ocean=sea)


def _sea_mean_square(x: Tensor, sea: Tensor | None) -> Tensor:
    """``mean(x**2)``, over the sea cells with a mask (then exactly ``mean(x**2)`` if all
    sea: the scale factor is 1.0; 0 without sea)."""
    if sea is None:
        return torch.mean(x ** 2)
    count = torch.broadcast_to(sea, x.shape).sum().clamp(min=1)
    return torch.mean(torch.where(sea, x, 0.0) ** 2) * (x.numel() / count)


def _fourdvarnet_terms(
    model: FourDVarNet, state: Tensor, targets: Targets, config: LossConfig,
    sea: Tensor | None = None,
) -> dict[str, Tensor]:
    ssh, u, v = model.outputs(state)
    terms = _block_terms(ssh, u, v, targets, config, model, sea)
    large = model.blocks(state)[0]
    if config.prior > 0:
        # the paper's "true state": [OI, gt - large, gt - large, u_gt, v_gt] (its code puts
        # SST in the u slot by an argument swap; the true u is used here, knowingly)
        anomaly = targets.ssh - large
        true_state = torch.cat([targets.oi, anomaly, anomaly, targets.u, targets.v], dim=1)
        if sea is not None:
            true_state = torch.where(sea, true_state, 0.0)
        terms["prior"] = (
            _sea_mean_square(model.prior(state) - state, sea)
            + _sea_mean_square(model.prior(true_state) - true_state, sea)
        )
    if config.first_guess > 0:
        terms["first_guess"] = weighted_mse(large - targets.oi, targets.weight, sea)
    return terms


class Objective(nn.Module):
    """The loss as a module, so that DistributedDataParallel can wrap it (its forward runs
    the solver, so gradients are synchronised the usual way).

    Parameters
    ----------
    model : FourDVarNet or DirectInversion
        The model trained.
    weight : Tensor
        The patch weight, (T, H, W), dimensionless.
    config : LossConfig
        Loss weights.
    """

    def __init__(
        self, model: FourDVarNet | DirectInversion, weight: Tensor, config: LossConfig
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("weight", weight)
        self.config = config

    def forward(self, batch: dict[str, Tensor]) -> BatchLoss:
        """Loss of a batch of collated samples of a WindowDataset (on the model's device),
        with its sea mask ``batch["ocean"]`` when it has one."""
        model, config = self.model, self.config
        inputs, targets = encode_batch(model, batch, self.weight)
        sea = sea_mask(batch.get("ocean"))
        if isinstance(model, FourDVarNet):
            blocks = [_fourdvarnet_terms(model, s, targets, config, sea)
                      for s in model.solve(inputs)]
            weights = config.cascade_weights
        else:
            ssh, u, v = model.predict(inputs)
            blocks = [_block_terms(ssh, u, v, targets, config, model, sea)]
            weights = (1.0,)
        totals = [weighted_total(terms, config) for terms in blocks]
        total = sum(w * t for w, t in zip(weights, totals, strict=True))
        return BatchLoss(
            total=total,
            last_block=float(totals[-1].detach()),
            terms={k: float(v.detach()) for k, v in blocks[-1].items()},
        )

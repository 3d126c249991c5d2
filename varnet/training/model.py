"""The 4DVarNet for SSH and surface currents, and the direct-inversion baseline.

Both models take **physical inputs** on a (T, H, W) window, batched: the OI first guess of
the sea-level anomaly (m), the gridded along-track SLA (m, NaN where not observed) and SST
(K, NaN where missing), and return SSH anomaly (m) and the surface current (u, v) (m s-1).
Normalisation happens inside, with statistics stored as buffers, so a checkpoint or an
exported graph is self-contained. The training code works on the normalised tensors
(:meth:`FourDVarNet.encode_inputs`, :meth:`FourDVarNet.solve`).

The architecture follows reference/paper.md section 3:

* **State** of five T-day blocks: large-scale SSH :math:`\\bar x`, observed anomaly, anomaly,
  u, v; SSH = block 0 + block 2; u, v never observed.
* **Prior** :math:`\\Phi`: the two-scale bilinear auto-encoder
  ``ConvT(BiLin(AvgPool(x))) + BiLin(x)`` (:class:`TwoScalePrior`).
* **Cost** :math:`U(x) = \\alpha_0^2 \\|x - \\Phi(x)\\|^2_{w_0} + \\alpha_1^2 \\|dy_1\\|^2_{w_1}
  + \\alpha_2^2 \\|dy_2\\|^2_{w_2}` with the SSH observation term (OI on block 0, along-track
  anomaly on block 1) and, with SST, a comparison of learned feature maps of the state and
  of SST (:class:`SstObservation`); all weights trainable.
* **Solver**: :math:`x \\leftarrow x - \\frac{1}{N} \\mathrm{LSTM}(\\nabla_x U / n)`, the
  gradient by autograd inside the forward pass, N steps per cascade block, blocks detached
  from each other (:class:`FourDVarNet`).

Deliberate changes from the paper's code, so that a patch's output depends only on that
patch (an operational requirement) and the exported graph is exact:

1. The SST observation operator has **no BatchNorm**. The paper's shared
   ``BatchNorm2d(track_running_stats=False)`` normalises with the statistics of the batch even
   at inference, so a patch's output changed with its batch neighbours. Its learned
   per-channel gate (a sigmoid of a convolution of the SST mask) remains and carries the
   per-feature scaling.
2. The variational cost is **per sample** and the gradient normaliser
   :math:`n = \\sqrt{\\overline{g^2}}` is computed **per sample** (the paper takes one scalar
   over the whole batch tensor, which again couples patches).
3. Every global mean is taken **hierarchically** (over W, then H, then channels), never as
   one reduction over a flattened tensor, so that the ONNX graph's reductions accumulate in
   the same order as PyTorch's and stay float32-exact (reference/onnx.md section 4.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from varnet.training.config import ModelConfig

#: State blocks of the 4DVarNet, in order.
STATE_BLOCKS = ("ssh_large_scale", "ssh_observed_anomaly", "ssh_anomaly", "u", "v")


@dataclass(frozen=True)
class Normalisation:
    """Normalisation statistics, computed on the training period only.

    Attributes
    ----------
    ssh_mean, ssh_std : float
        Mean and standard deviation of the true SSH anomaly, m; applied to the SSH
        observations and the OI too.
    sst_mean, sst_std : float
        Mean and standard deviation of SST, K.
    uv_std : float
        One scale for both current components, :math:`\\sqrt{E[u^2] + E[v^2]}`, m s-1 (zero
        mean, as in the paper).
    """

    ssh_mean: float
    ssh_std: float
    sst_mean: float
    sst_std: float
    uv_std: float

    def as_dict(self) -> dict[str, float]:
        """Plain float values, for checkpoints and metadata."""
        return {k: float(v) for k, v in asdict(self).items()}


def hierarchical_mean(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Mean over ``dims``, one dimension at a time from the last (keeps the dimensions).

    Parameters
    ----------
    x : Tensor
        Any tensor.
    dims : tuple of int
        Non-negative dimensions to average over.

    Returns
    -------
    Tensor
        Same rank as ``x``, size 1 on ``dims``.
    """
    for d in sorted(dims, reverse=True):
        x = x.mean(dim=d, keepdim=True)
    return x


def _conv(c_in: int, c_out: int, kernel: int, bias: bool = False, mode: str = "zeros") -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias, padding_mode=mode)


class BilinearUnit(nn.Module):
    """The paper's bilinear convolutional unit (``BiLinUnit``), no biases, zero padding.

    ``conv(k) -> ReLU -> conv3 -> [B0(h), B1(h) * B2(h)] -> conv3``.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    dim : int
        Width (the paper's DimAE, 50); the first convolution has ``2 * dim`` channels.
    kernel : int
        Kernel of the first convolution (paper: 7).
    """

    def __init__(self, c_in: int, c_out: int, dim: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = _conv(c_in, 2 * dim, kernel)
        self.conv2 = _conv(2 * dim, dim, 3)
        self.linear = _conv(dim, dim, 3)
        self.left = _conv(dim, dim, 3)
        self.right = _conv(dim, dim, 3)
        self.conv3 = _conv(2 * dim, c_out, 3)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the unit to ``x`` of shape (B, c_in, H, W)."""
        h = self.conv2(F.relu(self.conv1(x)))
        h = torch.cat([self.linear(h), self.left(h) * self.right(h)], dim=1)
        return self.conv3(h)


class TwoScalePrior(nn.Module):
    """The prior Φ: ``ConvT_{p,p}(BiLin(AvgPool_p(x))) + BiLin(x)`` (paper ``unet1``).

    Parameters
    ----------
    c_in, c_out : int
        Channels in and out (equal for the 4DVarNet prior).
    dim, kernel : int
        Of both :class:`BilinearUnit`.
    pool : int
        Down-sampling of the coarse branch; H and W must be multiples of it.
    """

    def __init__(self, c_in: int, c_out: int, dim: int, kernel: int, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.coarse = BilinearUnit(c_in, c_out, dim, kernel)
        self.upsample = nn.ConvTranspose2d(c_out, c_out, pool, stride=pool, bias=False)
        self.fine = BilinearUnit(c_in, c_out, dim, kernel)

    def forward(self, x: Tensor) -> Tensor:
        """Apply Φ to ``x`` of shape (B, c_in, H, W)."""
        coarse = self.coarse(F.avg_pool2d(x, self.pool))
        return self.upsample(coarse) + self.fine(x)


def _feature_stack(c_in: int, features: int) -> nn.Sequential:
    mode = "reflect"
    return nn.Sequential(
        _conv(c_in, 2 * features, 3, mode=mode), nn.Tanh(),
        _conv(2 * features, features, 3, mode=mode), nn.Tanh(),
        _conv(features, 2 * features, 3, mode=mode), nn.Tanh(),
        _conv(2 * features, features, 3, mode=mode),
    )


class SstObservation(nn.Module):
    """Learned SST observation term: ``(F_x(x) - F_y(SST)) * sigmoid(conv(mask))``.

    Parameters
    ----------
    state_channels : int
        Channels of the state (5 T).
    window : int
        T, the SST channels.
    features : int
        Feature maps compared (paper: 20).

    Notes
    -----
    The paper's BatchNorm after both feature stacks is removed (module docstring, change 1).
    """

    def __init__(self, state_channels: int, window: int, features: int) -> None:
        super().__init__()
        self.state_features = _feature_stack(state_channels, features)
        self.sst_features = _feature_stack(window, features)
        self.gate = _conv(window, features, 3, bias=True, mode="reflect")

    def encode_sst(self, sst: Tensor, sst_mask: Tensor) -> tuple[Tensor, Tensor]:
        """SST features and gate, computed once per window (they do not depend on x)."""
        return self.sst_features(sst * sst_mask), torch.sigmoid(self.gate(sst_mask))

    def forward(self, x: Tensor, sst_features: Tensor, gate: Tensor) -> Tensor:
        """Misfit feature maps (B, features, H, W) of the state ``x``."""
        return (self.state_features(x) - sst_features) * gate


class VariationalCost(nn.Module):
    """Per-sample weighted cost :math:`\\sum_k \\alpha_k^2 \\sum_c w_{kc}^2 \\overline{z_{kc}^2}`.

    The overline is the mean over the patch (hierarchical: W, then H), so the cost does not
    grow with the patch size. All weights start at 1 and are trained (paper section 3.4).

    Parameters
    ----------
    channels : sequence of int
        Channels of each term (prior misfit first, then each observation misfit).
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(len(channels)))
        self.weights = nn.ParameterList(nn.Parameter(torch.ones(c)) for c in channels)

    def forward(self, misfits: list[Tensor]) -> Tensor:
        """Cost of each sample, shape (B,), from misfits of shape (B, c_k, H, W)."""
        total = None
        for k, (z, w) in enumerate(zip(misfits, self.weights, strict=True)):
            per_channel = hierarchical_mean(z * z, (2, 3)).flatten(1)  # (B, c_k)
            term = self.alpha[k] ** 2 * (per_channel * w**2).sum(dim=1)
            total = term if total is None else total + term
        return total


class ConvLstmCell(nn.Module):
    """Convolutional LSTM cell, 3x3 gates with bias, zero padding, states start at zero."""

    def __init__(self, c_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = _conv(c_in + hidden, 4 * hidden, 3, bias=True)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """One step; returns the new (h, c)."""
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class GradientModulator(nn.Module):
    """``Conv1x1(dropout(LSTM(dropout(g))))``: the learned update direction."""

    def __init__(self, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.cell = ConvLstmCell(channels, hidden)
        self.out = nn.Conv2d(hidden, channels, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, g: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Update direction and the new LSTM memory."""
        h, c = self.cell(self.dropout(g), h, c)
        return self.out(self.dropout(h)), h, c


@dataclass
class EncodedInputs:
    """Normalised inputs of a batch of windows, each (B, T, H, W).

    ``obs_anomaly`` is ``mask * (obs - oi)``; ``sst`` is 0 and ``sst_mask`` 0 where SST is
    missing (and both are None without SST).
    """

    oi: Tensor
    obs_anomaly: Tensor
    obs_mask: Tensor
    sst: Tensor | None
    sst_mask: Tensor | None


class _Normalised(nn.Module):
    """Shared normalisation buffers and input encoding of both model kinds."""

    def __init__(self, config: ModelConfig, window: int, stats: Normalisation) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self.use_sst = config.use_sst
        self._stats = stats
        for key, value in stats.as_dict().items():
            self.register_buffer(key, torch.tensor(value, dtype=torch.float32))

    @property
    def stats(self) -> Normalisation:
        """The normalisation statistics (exact; the buffers hold their float32 values)."""
        return self._stats

    def encode_inputs(self, oi: Tensor, obs: Tensor, sst: Tensor | None) -> EncodedInputs:
        """Normalise physical inputs (m, m with NaN, K with NaN), each (B, T, H, W)."""
        oi_n = (oi - self.ssh_mean) / self.ssh_std
        mask = torch.isfinite(obs).to(oi.dtype)
        obs_n = (torch.where(mask > 0, obs, self.ssh_mean) - self.ssh_mean) / self.ssh_std
        anomaly = mask * (obs_n - oi_n)
        sst_n = sst_mask = None
        if self.use_sst:
            if sst is None:
                raise ValueError("this model uses SST: pass an sst tensor")
            sst_mask = torch.isfinite(sst).to(oi.dtype)
            sst_n = (torch.where(sst_mask > 0, sst, self.sst_mean) - self.sst_mean) / self.sst_std
        return EncodedInputs(oi_n, anomaly, mask, sst_n, sst_mask)

    def decode(self, ssh: Tensor, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Physical SSH anomaly (m) and currents (m s-1) from normalised blocks."""
        return ssh * self.ssh_std + self.ssh_mean, u * self.uv_std, v * self.uv_std


class FourDVarNet(_Normalised):
    """The 4DVarNet of the paper (module docstring), with normalisation inside.

    Parameters
    ----------
    config : ModelConfig
        Architecture; ``config.kind`` must be ``"4dvarnet"``.
    window : int
        T, days.
    stats : Normalisation
        Training-period statistics.
    """

    def __init__(self, config: ModelConfig, window: int, stats: Normalisation) -> None:
        super().__init__(config, window, stats)
        channels = len(STATE_BLOCKS) * window
        self.prior = TwoScalePrior(channels, channels, config.dim_ae, config.kernel, config.pool)
        terms = [channels, 2 * window]
        self.sst_term = None
        if config.use_sst:
            self.sst_term = SstObservation(channels, window, config.sst_features)
            terms.append(config.sst_features)
        self.cost = VariationalCost(tuple(terms))
        self.modulator = GradientModulator(channels, config.lstm_channels, config.dropout)

    def initial_state(self, inputs: EncodedInputs) -> Tensor:
        """``[OI, m(y - OI), m(y - OI), 0, 0]`` (normalised), shape (B, 5T, H, W)."""
        zeros = torch.zeros_like(inputs.oi)
        anomaly = inputs.obs_anomaly
        return torch.cat([inputs.oi, anomaly, anomaly, zeros, zeros], dim=1)

    def blocks(self, x: Tensor) -> tuple[Tensor, ...]:
        """The five T-channel blocks of a state."""
        return torch.split(x, self.window, dim=1)

    def outputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised (SSH, u, v) of a state: SSH = block 0 + block 2."""
        large, _, anomaly, u, v = self.blocks(x)
        return large + anomaly, u, v

    def variational_cost(
        self, x: Tensor, inputs: EncodedInputs, sst_code: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        """U(x) per sample, shape (B,)."""
        large, observed, *_ = self.blocks(x)
        obs_misfit = torch.cat(
            [large - inputs.oi, inputs.obs_mask * observed - inputs.obs_anomaly], dim=1
        )
        misfits = [x - self.prior(x), obs_misfit]
        if self.sst_term is not None and sst_code is not None:
            misfits.append(self.sst_term(x, *sst_code))
        return self.cost(misfits)

    def _cost_gradient(
        self, x: Tensor, inputs: EncodedInputs, sst_code: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            cost = self.variational_cost(x, inputs, sst_code).sum()
            (grad,) = torch.autograd.grad(cost, x, create_graph=self.training)
        return grad

    def solve(self, inputs: EncodedInputs) -> list[Tensor]:
        """Run the cascaded solver; the state after each cascade block (normalised).

        With ``n_grad = 0`` every block returns the initial state.
        """
        x = self.initial_state(inputs)
        batch, _, height, width = x.shape
        hidden = x.new_zeros(batch, self.config.lstm_channels, height, width)
        cell = torch.zeros_like(hidden)
        sst_code = None
        if self.sst_term is not None:
            sst_code = self.sst_term.encode_sst(inputs.sst, inputs.sst_mask)
        norm = None
        states = []
        for block in range(self.config.n_cascades):
            if block > 0:
                x, hidden, cell = x.detach(), hidden.detach(), cell.detach()
                norm = None if norm is None else norm.detach()
            for _ in range(self.config.n_grad):
                grad = self._cost_gradient(x, inputs, sst_code)
                if norm is None:
                    norm = torch.sqrt(hierarchical_mean(grad * grad, (1, 2, 3)))
                    norm = torch.clamp(norm, min=1e-12)
                step, hidden, cell = self.modulator(grad / norm, hidden, cell)
                x = x - step / self.config.n_grad
            states.append(x)
        return states

    def forward(
        self, oi: Tensor, obs: Tensor, sst: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruct a batch of windows.

        Parameters
        ----------
        oi : Tensor
            OI first guess of the SLA, m, shape (B, T, H, W).
        obs : Tensor
            Gridded along-track SLA, m, NaN where not observed, same shape.
        sst : Tensor, optional
            SST, K, NaN where missing, same shape (models with SST only).

        Returns
        -------
        ssh, u, v : Tensor
            SSH anomaly (m) and eastward / northward current (m s-1), each (B, T, H, W).
        """
        states = self.solve(self.encode_inputs(oi, obs, sst))
        return self.decode(*self.outputs(states[-1]))


class DirectInversion(_Normalised):
    """The direct-inversion baseline (paper "U-Net"): the prior network applied once.

    Input channels ``[OI, m(y - OI)]`` (and SST) of T days each; output (SSH, u, v) of T days
    each (normalised). The paper feeds three more all-zero blocks and reads 3 of 5 output
    blocks; those carry nothing and are dropped here.

    Parameters
    ----------
    config : ModelConfig
        Architecture; ``config.kind`` must be ``"direct"``.
    window : int
        T, days.
    stats : Normalisation
        Training-period statistics.
    """

    def __init__(self, config: ModelConfig, window: int, stats: Normalisation) -> None:
        super().__init__(config, window, stats)
        c_in = (3 if config.use_sst else 2) * window
        self.prior = TwoScalePrior(c_in, 3 * window, config.dim_ae, config.kernel, config.pool)

    def predict(self, inputs: EncodedInputs) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised (SSH, u, v)."""
        parts = [inputs.oi, inputs.obs_anomaly]
        if self.use_sst:
            parts.append(inputs.sst)
        return torch.split(self.prior(torch.cat(parts, dim=1)), self.window, dim=1)

    def forward(
        self, oi: Tensor, obs: Tensor, sst: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Same interface as :meth:`FourDVarNet.forward`."""
        return self.decode(*self.predict(self.encode_inputs(oi, obs, sst)))


def build_model(config: ModelConfig, window: int, stats: Normalisation) -> nn.Module:
    """The model of ``config.kind`` (:class:`FourDVarNet` or :class:`DirectInversion`)."""
    if config.kind == "4dvarnet":
        return FourDVarNet(config, window, stats)
    return DirectInversion(config, window, stats)

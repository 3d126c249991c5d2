"""Training losses of reference/paper.md section 4.1, in normalised units.

Every reconstruction loss is the paper's weighted MSE: the mean, over the entries whose patch
weight is positive, of ``(w * error)**2`` (the weight multiplies the error before squaring).
Derivatives on the sphere use the paper's non-centred 3-point stencil
(``-0.7 f[i-1] + 0.4 f[i] + 0.3 f[i+1]``) with reflect padding and metric steps
``R dlat`` and ``R cos(lat) dlon`` (m), as its torch version does.

**Land.** :func:`reconstruction_loss` and :func:`weighted_mse` take ``ocean``, a sea mask
(True on sea; bool, or float with sea > 0) of shape ``(H, W)``, ``(B, H, W)`` or
``(B, 1, H, W)``, broadcast over batch and time. ``None`` means all sea, and then (as with an
all-True mask) every term is bit for bit what it is without the argument. Land cells
contribute nothing to any term, whatever the outputs or the truth hold there (NaN included):
the gradient of the loss with respect to outputs on land is exactly zero.

* Pointwise terms (``ssh``, ``uv``): land cells are left out of the mean, which divides by
  the number of (positively weighted) sea cells.
* Derivative terms never use a difference across the coast: an output cell whose stencil
  reaches a land cell is left out. The Sobel gradients (``grad_ssh``, 3 x 3 stencil) keep the
  sea cells whose 8 neighbours are sea; the geostrophic currents (``uv_geo``, stencil along
  latitude for u and longitude for v) and the divergence and strain (``div``, ``strain``)
  keep those whose 4 neighbours are sea. Beyond the patch's edge the stencils reflect the
  patch itself, so the edge does not erode the mask.
* The smoothing before the divergence and strain is a normalised convolution over sea:
  ``S(m u) / S(m)`` with ``S`` the paper's 5 heat passes and 3 x 3 Gaussian and ``m`` the
  mask, so land values never enter; cells whose smoothing support holds no land keep
  ``S(u)`` exactly.
* The large-scale term compares the means over the sea cells of each pooled cell, and leaves
  out pooled cells without sea.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from varnet.kernels.finite_differences import EARTH_RADIUS_M, GRAVITY_M_S2, OMEGA_RAD_S
from varnet.training.config import LossConfig

#: The paper's divergence loss scales the divergence of normalised currents (m-1) by 1e4.
DIVERGENCE_SCALE = 1.0e4
_STENCIL = (-0.7, 0.4, 0.3)


def _as_bool(ocean: Tensor) -> Tensor:
    """A sea mask as bool: kept if bool, ``ocean > 0`` otherwise."""
    return ocean if ocean.dtype == torch.bool else ocean > 0


def sea_mask(ocean: Tensor | None) -> Tensor | None:
    """A sea mask as a bool tensor of shape (B or 1, 1, H, W), or None.

    Parameters
    ----------
    ocean : Tensor or None
        True (or > 0) on sea, shape (H, W), (B, H, W) or (B, 1, H, W).

    Returns
    -------
    Tensor or None
        Bool, broadcastable over (B, T, H, W); None when ``ocean`` is None.
    """
    if ocean is None:
        return None
    sea = _as_bool(ocean)
    if sea.dim() == 2:
        return sea[None, None]
    if sea.dim() == 3:
        return sea[:, None]
    if sea.dim() == 4 and sea.shape[1] == 1:
        return sea
    raise ValueError(f"ocean must have shape (H, W), (B, H, W) or (B, 1, H, W), got "
                     f"{tuple(ocean.shape)}")


def _eroded(sea: Tensor, cross: bool) -> Tensor:
    """Sea cells (B|1, 1, H, W) whose 4 (``cross``) or 8 neighbours are all sea.

    Outside the patch counts as sea: the stencils reflect the patch there, so an edge cell's
    outside neighbours are inside neighbours already counted.
    """
    land = (~sea).to(torch.float32)
    kernel = land.new_ones((3, 3))
    if cross:
        kernel[0, 0] = kernel[0, 2] = kernel[2, 0] = kernel[2, 2] = 0.0
    return F.conv2d(F.pad(land, (1, 1, 1, 1)), kernel[None, None]) == 0


def weighted_mse(error: Tensor, weight: Tensor, ocean: Tensor | None = None) -> Tensor:
    """Mean of ``(weight * error)**2`` over the entries with positive weight (on sea).

    Parameters
    ----------
    error : Tensor
        Shape (B, T, H, W) (or broadcastable with ``weight``).
    weight : Tensor
        Non-negative weights broadcastable to ``error``.
    ocean : Tensor, optional
        Sea mask, bool (or float, sea > 0), broadcastable to ``error`` (e.g. (B, 1, H, W)
        from :func:`sea_mask`). Entries off it are left out like zero-weight ones: they add
        nothing to the sum, are not counted, and get an exactly zero gradient whatever
        ``error`` holds there (NaN included). None keeps every entry (the result is then bit
        for bit the same as with an all-True mask).

    Returns
    -------
    Tensor
        Scalar; 0 when no weight is positive (on sea).
    """
    weight = torch.broadcast_to(weight, error.shape)
    keep = weight > 0
    if ocean is not None:
        keep = keep & torch.broadcast_to(_as_bool(ocean), error.shape)
    count = keep.sum()
    if count == 0:
        return error.new_zeros(())
    return ((weight * error)[keep] ** 2).sum() / count


@dataclass(frozen=True)
class Metrics:
    """Metric factors of a batch of patches on a regular lon/lat grid.

    Attributes
    ----------
    inv_dx, inv_dy : Tensor
        1 / (grid step in m) along longitude, shape (B, 1, H, 1), and along latitude (B, 1, 1, 1).
    coriolis : Tensor
        f = 2 Omega sin(lat), s-1, shape (B, 1, H, 1).
    """

    inv_dx: Tensor
    inv_dy: Tensor
    coriolis: Tensor

    @classmethod
    def from_coordinates(cls, lat_deg: Tensor, lon_deg: Tensor) -> Metrics:
        """From patch coordinates ``lat_deg`` (B, H) and ``lon_deg`` (B, W), degrees."""
        lat = torch.deg2rad(lat_deg.double())
        dlat = (lat[:, 1] - lat[:, 0]).abs()
        dlon = torch.deg2rad((lon_deg[:, 1] - lon_deg[:, 0]).double()).abs()
        dy = EARTH_RADIUS_M * dlat
        dx = EARTH_RADIUS_M * torch.cos(lat) * dlon[:, None]
        f = 2.0 * OMEGA_RAD_S * torch.sin(lat)
        dtype = lat_deg.dtype if lat_deg.is_floating_point() else torch.float32
        return cls(
            inv_dx=(1.0 / dx).to(dtype)[:, None, :, None],
            inv_dy=(1.0 / dy).to(dtype)[:, None, None, None],
            coriolis=f.to(dtype)[:, None, :, None],
        )


def _stencil_derivative(field: Tensor, dim: int) -> Tensor:
    """Paper stencil along ``dim`` (2: lat, 3: lon) per grid step, reflect-padded."""
    pad = (0, 0, 1, 1) if dim == 2 else (1, 1, 0, 0)
    size = field.shape[dim]
    padded = F.pad(field, pad, mode="reflect")
    previous = padded.narrow(dim, 0, size)
    here = padded.narrow(dim, 1, size)
    following = padded.narrow(dim, 2, size)
    return _STENCIL[0] * previous + _STENCIL[1] * here + _STENCIL[2] * following


def _per_channel(field: Tensor, fn) -> Tensor:
    """Apply a (N, 1, H, W) filter ``fn`` to each channel of a (B, T, H, W) tensor."""

    b, t, h, w = field.shape
    out = fn(field.reshape(b * t, 1, h, w))
    return out.reshape(b, t, *out.shape[-2:])


def geostrophic_currents(ssh_m: Tensor, metrics: Metrics) -> tuple[Tensor, Tensor]:
    """``u = -(g/f) d(ssh)/dy``, ``v = (g/f) d(ssh)/dx`` (m s-1) of SSH in m, (B, T, H, W)."""
    d_dy = _stencil_derivative(ssh_m, 2) * metrics.inv_dy
    d_dx = _stencil_derivative(ssh_m, 3) * metrics.inv_dx
    factor = GRAVITY_M_S2 / metrics.coriolis
    return -factor * d_dy, factor * d_dx


def _heat_smoothing(field: Tensor, iterations: int = 5) -> Tensor:
    """``iterations`` successive 4-neighbour means, reflect padding (paper, lambda = 1)."""
    kernel = field.new_tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])

    def smooth(x: Tensor) -> Tensor:
        for _ in range(iterations):
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel[None, None])
        return x

    return _per_channel(field, smooth)


def _gaussian3(field: Tensor, sigma: float = 1.0) -> Tensor:
    """3x3 Gaussian blur (sigma in cells), reflect padding."""
    taps = torch.tensor([math.exp(-1.0 / (2 * sigma**2)), 1.0, math.exp(-1.0 / (2 * sigma**2))])
    taps = (taps / taps.sum()).to(field)
    kernel = taps[:, None] * taps[None, :]
    return _per_channel(
        field, lambda x: F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel[None, None])
    )


def _sea_smoothing(field: Tensor, sea: Tensor, passes: int) -> Tensor:
    """The training smoothing as a normalised convolution over sea: ``S(m f) / S(m)``.

    Where the smoothing support holds no land the result is ``S(f)`` itself, bit for bit;
    land values never enter (their gradient is zero).
    """

    def smooth(x: Tensor) -> Tensor:
        return _gaussian3(_heat_smoothing(x, passes))

    m = sea.to(field.dtype)
    num = smooth(torch.where(sea, field, 0.0))
    den = smooth(m)
    coastal = smooth(1.0 - m) != 0
    return torch.where(coastal, num / torch.where(den > 0, den, torch.ones_like(den)), num)


def smoothed_divergence_strain(
    u: Tensor, v: Tensor, metrics: Metrics, passes: int = 5, ocean: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Divergence and strain (m-1 per unit of u, v) after the paper's training smoothing:
    ``passes`` 4-neighbour averages (paper: 5), then a 3x3 Gaussian of sigma = 1 cell.

    With ``ocean`` (see :func:`sea_mask`), the smoothing is normalised over sea cells (land
    values never enter, see the module docstring); cells with a land cell among their 4
    neighbours still use it in their stencil, and :func:`reconstruction_loss` leaves them
    out."""
    sea = sea_mask(ocean)
    if sea is None:
        u = _gaussian3(_heat_smoothing(u, passes))
        v = _gaussian3(_heat_smoothing(v, passes))
    else:
        u = _sea_smoothing(u, sea, passes)
        v = _sea_smoothing(v, sea, passes)
    du_dx = _stencil_derivative(u, 3) * metrics.inv_dx
    du_dy = _stencil_derivative(u, 2) * metrics.inv_dy
    dv_dx = _stencil_derivative(v, 3) * metrics.inv_dx
    dv_dy = _stencil_derivative(v, 2) * metrics.inv_dy
    divergence = du_dx + dv_dy
    strain = torch.sqrt((dv_dx + du_dy) ** 2 + (du_dx - dv_dy) ** 2 + 1e-20)
    return divergence, strain


def _sobel(field: Tensor) -> tuple[Tensor, Tensor]:
    """Sobel gradients (x, y) per cell, valid part (cropped by 1 cell), as the paper's."""
    kx = field.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4.0
    gx = _per_channel(field, lambda x: F.conv2d(x, kx[None, None]))
    gy = _per_channel(field, lambda x: F.conv2d(x, kx.T[None, None]))
    return gx, gy


@dataclass
class Targets:
    """Normalised truth of a batch, each (B, T, H, W), and its patch weight and metrics."""

    ssh: Tensor
    u: Tensor
    v: Tensor
    oi: Tensor
    weight: Tensor
    metrics: Metrics


def _sea_pooled(field: Tensor, sea: Tensor, pool: int) -> Tensor:
    """Mean over the sea cells of each ``pool`` x ``pool`` cell (0 where there is none);
    exactly ``avg_pool2d(field)`` for all-sea cells."""
    m = sea.to(field.dtype)
    pooled = F.avg_pool2d(torch.where(sea, field, 0.0), pool)
    fraction = F.avg_pool2d(m, pool)
    all_sea = F.avg_pool2d(1.0 - m, pool) == 0
    safe = torch.where(fraction > 0, fraction, torch.ones_like(fraction))
    return torch.where(all_sea, pooled, pooled / safe)


def reconstruction_loss(
    ssh: Tensor,
    u: Tensor,
    v: Tensor,
    targets: Targets,
    config: LossConfig,
    ssh_std_m: float,
    uv_std_m_s: float,
    ocean: Tensor | None = None,
) -> dict[str, Tensor]:
    """The weighted terms of the loss that compare outputs with the truth (and the OI).

    Parameters
    ----------
    ssh, u, v : Tensor
        Normalised outputs, (B, T, H, W).
    targets : Targets
        Normalised truth.
    config : LossConfig
        Weights; a zero weight skips its term.
    ssh_std_m, uv_std_m_s : float
        Normalisation scales (m, m s-1), for the geostrophic term.
    ocean : Tensor, optional
        Sea mask, True (or > 0) on sea, shape (H, W), (B, H, W) or (B, 1, H, W), broadcast
        over batch and time. Land cells contribute nothing to any term and derivative terms
        use no difference across the coast (rules in the module docstring). None (or all
        True) means all sea: the terms are then bit for bit those computed without it.

    Returns
    -------
    dict of str to Tensor
        Unweighted scalar terms by name (``ssh``, ``grad_ssh``, ``uv``, ``uv_geo``, ``div``,
        ``strain``, ``large_scale``), only those with a positive weight.
    """
    w = targets.weight
    sea = sea_mask(ocean)
    cross = sea if sea is None else _eroded(sea, cross=True)
    terms: dict[str, Tensor] = {}
    if config.ssh > 0:
        terms["ssh"] = weighted_mse(ssh - targets.ssh, w, sea)
    if config.grad_ssh > 0:
        gx, gy = _sobel(ssh)
        tx, ty = _sobel(targets.ssh)
        inner = w[..., 1:-1, 1:-1]
        sea_inner = sea if sea is None else _eroded(sea, cross=False)[..., 1:-1, 1:-1]
        terms["grad_ssh"] = (weighted_mse(gx - tx, inner, sea_inner)
                             + weighted_mse(gy - ty, inner, sea_inner))
    if config.uv > 0:
        terms["uv"] = weighted_mse(u - targets.u, w, sea) + weighted_mse(v - targets.v, w, sea)
    if config.uv_geo > 0:
        scale = ssh_std_m / uv_std_m_s
        ug, vg = geostrophic_currents(ssh * scale, targets.metrics)
        tg_u, tg_v = geostrophic_currents(targets.ssh * scale, targets.metrics)
        terms["uv_geo"] = weighted_mse(ug - tg_u, w, cross) + weighted_mse(vg - tg_v, w, cross)
    if config.div > 0 or config.strain > 0:
        passes = config.div_smoothing
        div, strain = smoothed_divergence_strain(u, v, targets.metrics, passes, sea)
        div_t, strain_t = smoothed_divergence_strain(targets.u, targets.v, targets.metrics,
                                                     passes, sea)
        if config.div > 0:
            terms["div"] = weighted_mse(DIVERGENCE_SCALE * (div - div_t), w, cross)
        if config.strain > 0:
            terms["strain"] = weighted_mse(DIVERGENCE_SCALE * (strain - strain_t), w, cross)
    if config.large_scale > 0:
        pool = config.large_scale_pool
        coarse_w = F.avg_pool2d(w, pool)
        if sea is None:
            terms["large_scale"] = weighted_mse(
                F.avg_pool2d(ssh, pool) - F.avg_pool2d(targets.oi, pool), coarse_w
            )
        else:
            coarse_sea = F.avg_pool2d(sea.to(ssh.dtype), pool) > 0
            terms["large_scale"] = weighted_mse(
                _sea_pooled(ssh, sea, pool) - _sea_pooled(targets.oi, sea, pool), coarse_w,
                coarse_sea,
            )
    return terms


def weighted_total(terms: dict[str, Tensor], config: LossConfig) -> Tensor:
    """``sum(weight[name] * term)`` with the weights of ``config`` (``prior`` for ``prior``)."""
    total = None
    for name, value in terms.items():
        part = getattr(config, name) * value
        total = part if total is None else total + part
    if total is None:
        raise ValueError("every loss weight is zero: nothing to train")
    return total

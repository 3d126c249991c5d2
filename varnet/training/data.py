"""Training windows: the prepared gridded arrays cut into (T, lat, lon) patches.

The inputs come from :func:`varnet.training.prepare.prepare_arrays`, which reads the
observation files with the same readers and gridding code as operations. A sample is one
T-day window at one spatial patch position, windows sliding by one day within a period
(windows never straddle two periods). The paper's augmentation doubles the training set:
sample ``N + i`` is sample ``i`` observed through the along-track mask of another, randomly
drawn window (same patch position), its observations being the truth on that mask.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from varnet.errors import InputError
from varnet.kernels.patches import PatchLayout
from varnet.training.model import Normalisation

#: Variables of a prepared dataset used by training, in the order of :class:`PeriodArrays`.
INPUT_VARIABLES = ("oi", "obs", "sst", "sla_true", "u_true", "v_true")


@dataclass(frozen=True, eq=False)
class PeriodArrays:
    """Gridded fields of one period, float32, each (days, lat, lon).

    Attributes
    ----------
    oi, obs : numpy.ndarray
        OI SLA and gridded along-track SLA (NaN where not observed), m.
    sst : numpy.ndarray
        SST, K (NaN where missing).
    ssh, u, v : numpy.ndarray
        True SLA (m) and current (m s-1).
    lat, lon : numpy.ndarray
        Cell centres, degrees.
    days : numpy.ndarray
        datetime64[D] of each day.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; None means all sea. With it, the normalisation statistics use sea
        cells only and every sample carries its patch of it (``"ocean"``), which the training
        loss uses (:mod:`varnet.training.losses`).
    """

    oi: np.ndarray
    obs: np.ndarray
    sst: np.ndarray
    ssh: np.ndarray
    u: np.ndarray
    v: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    days: np.ndarray
    ocean: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.ocean is not None:
            ocean = np.asarray(self.ocean)
            if ocean.dtype != np.bool_ or ocean.shape != (self.lat.size, self.lon.size):
                raise ValueError(f"ocean must be a bool array of shape (lat, lon) = "
                                 f"{(self.lat.size, self.lon.size)}, got {ocean.dtype} "
                                 f"{ocean.shape}")
            object.__setattr__(self, "ocean", ocean)

    @classmethod
    def select(cls, prepared: xr.Dataset, start: dt.date, end: dt.date) -> PeriodArrays:
        """The days ``start`` to ``end`` (inclusive) of a prepared dataset.

        Its ``ocean`` variable (1 on sea, 0 on land; :func:`~varnet.training.prepare.
        prepare_arrays`) becomes :attr:`ocean` where it has land (the inputs are as the model
        takes them: the OI first guess 0 on land, observations and SST NaN; the truth is NaN
        there, which the loss leaves out).

        Raises
        ------
        ValueError
            If the prepared dataset does not cover the whole period (the message names the
            missing dates).
        """
        days = prepared["time"].values.astype("datetime64[D]")
        first, last = np.datetime64(start, "D"), np.datetime64(end, "D")
        keep = (days >= first) & (days <= last)
        expected = int((last - first).astype(int)) + 1
        if keep.sum() != expected:
            raise ValueError(
                f"the prepared data cover {days[0]} to {days[-1]}, not the whole period "
                f"{start} to {end}"
            )
        arrays = [np.ascontiguousarray(prepared[name].values[keep], dtype=np.float32)
                  for name in INPUT_VARIABLES]
        lat = prepared["lat"].values.astype(np.float64)
        lon = prepared["lon"].values.astype(np.float64)
        ocean = None
        if "ocean" in prepared.variables and not (prepared["ocean"].values == 1).all():
            ocean = prepared["ocean"].values == 1
        return cls(*arrays, lat=lat, lon=lon, days=days[keep], ocean=ocean)

    @property
    def ndays(self) -> int:
        """Number of days."""
        return int(self.days.size)


def normalisation_from(train: PeriodArrays) -> Normalisation:
    """Normalisation statistics of the training period (reference/paper.md section 2.4).

    SSH mean and standard deviation of the true SLA; SST mean and standard deviation
    (NaN-aware); one current scale ``sqrt(E[u^2] + E[v^2])`` with zero mean. With a sea mask
    (``train.ocean``), over sea cells only.

    Raises
    ------
    varnet.errors.InputError
        If a field does not vary over the training period (a :class:`ValueError` too).
    """
    def sea(a: np.ndarray) -> np.ndarray:
        return a if train.ocean is None else a[:, train.ocean]

    def moments(a: np.ndarray) -> tuple[float, float]:
        a64 = sea(a).astype(np.float64)
        return float(np.nanmean(a64)), float(np.nanstd(a64))

    ssh_mean, ssh_std = moments(train.ssh)
    sst_mean, sst_std = moments(train.sst)
    uv_std = float(np.sqrt(np.nanmean(sea(train.u).astype(np.float64) ** 2)
                           + np.nanmean(sea(train.v).astype(np.float64) ** 2)))
    for name, value in (("SSH", ssh_std), ("SST", sst_std), ("current", uv_std)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"the training period has no {name} variability (std {value}); "
                             "check data.train and the synthetic ocean's fields")
    return Normalisation(ssh_mean, ssh_std, sst_mean, sst_std, uv_std)


class WindowDataset(Dataset):
    """(T, lat, lon) samples of a period, with the paper's mask-swap augmentation.

    Parameters
    ----------
    arrays : PeriodArrays
        The period.
    window : int
        T, days.
    patch, stride : tuple of int
        Patch size and stride (lat, lon), cells; edges follow
        :func:`varnet.kernels.patches.patch_starts` (last patch shifted to the border).
    augment : bool
        Add the mask-swapped copy of every sample (training only).
    seed : int
        Seed of the mask permutation; :meth:`set_epoch` draws a new one each epoch.

    Raises
    ------
    varnet.errors.InputError
        If the period is shorter than ``window`` or the grid smaller than ``patch`` (a
        :class:`ValueError` too).
    """

    def __init__(
        self,
        arrays: PeriodArrays,
        window: int,
        patch: tuple[int, int],
        stride: tuple[int, int],
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        if arrays.ndays < window:
            raise InputError(f"a period of {arrays.ndays} days holds no {window}-day window "
                             "(data.window_days)")
        ny, nx = arrays.lat.size, arrays.lon.size
        if patch[0] > ny or patch[1] > nx:
            raise InputError(f"data.patch {tuple(patch)} is larger than the model grid "
                             f"({ny}, {nx}) (lat, lon)")
        self.layout = PatchLayout((arrays.ndays, ny, nx), (window, *patch), (1, *stride))
        self.origins = self.layout.origins()
        self.arrays = arrays
        self.window = window
        self.patch = patch
        self.augment = augment
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the mask permutation of ``epoch`` (reproducible from the seed)."""
        rng = np.random.default_rng([self.seed, epoch])
        self.permutation = rng.permutation(len(self.layout.time_starts))

    def __len__(self) -> int:
        return len(self.origins) * (2 if self.augment else 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        base = index % len(self.origins)
        t, y, x = (int(i) for i in self.origins[base])
        a = self.arrays
        box = (slice(t, t + self.window), slice(y, y + self.patch[0]),
               slice(x, x + self.patch[1]))
        ssh = a.ssh[box]
        obs = a.obs[box]
        if index >= len(self.origins):
            other = int(self.layout.time_starts[self.permutation[t]])
            mask = np.isfinite(a.obs[other : other + self.window, box[1], box[2]])
            obs = np.where(mask, ssh, np.nan).astype(np.float32)
        sample = {"oi": a.oi[box], "obs": obs, "sst": a.sst[box], "ssh": ssh,
                  "u": a.u[box], "v": a.v[box], "lat": a.lat[box[1]], "lon": a.lon[box[2]]}
        if a.ocean is not None:
            sample["ocean"] = a.ocean[box[1], box[2]]
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sample.items()}

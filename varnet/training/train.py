"""The training loop: Adam, validation loss, best checkpoint, resume, CSV log and figures.

A run directory holds::

    config.toml          the configuration as run (with its hash in the first line)
    log.csv              one line per epoch: losses, validation loss and scores, timings
    checkpoints/last.pt  weights, optimiser state and progress (``--resume`` starts from it)
    checkpoints/best.pt  weights of the epoch with the lowest validation loss
    figures/losses.png   training and validation loss curves

Runs on CUDA when present (``optim.device = "auto"``), else on the CPU; under ``torchrun``
with several processes it trains with DistributedDataParallel (one process per GPU, or
gloo on CPU), rank 0 writing the run directory.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from varnet.config import ConfigError, dump_toml
from varnet.datamodel.grid import Grid
from varnet.errors import EXIT_ATTENTION, InputError, VarnetError
from varnet.kernels.patches import patch_weight
from varnet.training.checkpoint import (
    read_checkpoint,
    save_checkpoint,
)
from varnet.training.config import TrainConfig
from varnet.training.data import PeriodArrays, WindowDataset, normalisation_from
from varnet.training.losses import sea_mask
from varnet.training.model import build_model
from varnet.training.objective import BatchLoss, Objective
from varnet.training.prepare import prepare_arrays

log = logging.getLogger("varnet.training")


class TrainingDiverged(VarnetError, FloatingPointError):
    """The training loss became infinite or NaN: the run stopped (its directory keeps the
    epochs done so far).

    ``varnet-train`` stops on it with exit status 1; also a :class:`FloatingPointError`, for
    code that catches that.
    """

    exit_code = EXIT_ATTENTION
    what = "training diverged"


@dataclass(frozen=True)
class Runtime:
    """Where this process trains: device, rank and world size."""

    device: torch.device
    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory."""
        return self.rank == 0


def runtime_for(device_setting: str, threads: int) -> Runtime:
    """Pick the device (and join the torchrun process group when there is one).

    On the CPU, denormal floats are flushed to zero: the solver's gradients reach denormal
    magnitudes on calm patches, and x86 arithmetic on them is up to 100 times slower.
    """
    torch.set_flush_denormal(True)
    if threads > 0:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available() and device_setting in ("auto", "cuda")
    if device_setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("optim.device", "'cuda', but torch finds no CUDA device here")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch_dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return Runtime(torch.device("cuda", local), rank, world)
    return Runtime(torch.device("cpu"), rank, world)


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's generators (NumPy generators are seeded where created)."""
    random.seed(seed)
    torch.manual_seed(seed)


def data_span(config: TrainConfig) -> tuple[dt.date, dt.date]:
    """First and last day of prepared data a run needs (test windows reach T//2 beyond)."""
    d = config.data
    half = dt.timedelta(days=d.window_days // 2)
    starts = [d.train[0], d.validation[0], d.test[0] - half]
    ends = [d.train[1], d.validation[1], d.test[1] + half]
    return min(starts), max(ends)


def prepared_periods(config: TrainConfig, progress: bool) -> dict[str, PeriodArrays]:
    """Training, validation and test (with its T//2 margins) arrays of a run."""
    d = config.data
    start, end = data_span(config)
    prepared = prepare_arrays(
        Path(d.osse), d.coarsen, start, end, d.oi, missions=d.missions or None,
        sst_level=d.sst_level, workers=d.prepare_workers, progress=progress,
        ocean_mask=d.ocean_mask or None,
    )
    half = dt.timedelta(days=d.window_days // 2)
    return {
        "train": PeriodArrays.select(prepared, *d.train),
        "validation": PeriodArrays.select(prepared, *d.validation),
        "test": PeriodArrays.select(prepared, d.test[0] - half, d.test[1] + half),
    }


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Adam:
    prior = [p for n, p in model.named_parameters() if n.startswith("prior.")]
    others = [p for n, p in model.named_parameters() if not n.startswith("prior.")]
    groups = [{"params": prior, "lr": config.optim.lr_prior, "name": "prior"}]
    if others:
        groups.append({"params": others, "lr": config.optim.lr, "name": "solver"})
    return torch.optim.Adam(groups)


def _validate(objective: Objective, loader: DataLoader, device: torch.device) -> dict[str, float]:
    """Mean last-block loss, and centre-day tau_uv (%) and mu (SSH) over the weighted cells
    (and sea cells, when batches carry a sea mask ``"ocean"``)."""
    objective.eval()
    losses, err_uv, ref_uv, err_ssh, ref_ssh = [], 0.0, 0.0, 0.0, 0.0
    model = objective.model
    centre = model.window // 2
    for batch in loader:
        batch = _to_device(batch, device)
        with torch.no_grad():
            losses.append(objective(batch).last_block)
            ssh, u, v = model(batch["oi"], batch["obs"], batch["sst"] if model.use_sst else None)
        c = (slice(None), centre)
        if "ocean" in batch:  # where(), not a product: land may hold NaN
            keep = (objective.weight[centre] > 0) & sea_mask(batch["ocean"])[:, 0]

            def total(x: torch.Tensor, keep: torch.Tensor = keep) -> float:
                return float(torch.where(keep, x, 0.0).sum())

            err_uv += total((u[c] - batch["u"][c]) ** 2 + (v[c] - batch["v"][c]) ** 2)
            ref_uv += total(batch["u"][c] ** 2 + batch["v"][c] ** 2)
            err_ssh += total((ssh[c] - batch["ssh"][c]) ** 2)
            ref_ssh += total(batch["ssh"][c] ** 2)
            continue
        w = (objective.weight[centre] > 0).to(ssh.dtype)
        err_uv += float(((u[c] - batch["u"][c]) ** 2 * w + (v[c] - batch["v"][c]) ** 2 * w).sum())
        ref_uv += float((batch["u"][c] ** 2 * w + batch["v"][c] ** 2 * w).sum())
        err_ssh += float(((ssh[c] - batch["ssh"][c]) ** 2 * w).sum())
        ref_ssh += float((batch["ssh"][c] ** 2 * w).sum())
    objective.train()
    return {
        "val_loss": float(np.mean(losses)),
        "val_tau_uv": 100.0 * (1.0 - err_uv / ref_uv),
        "val_mu_ssh": 1.0 - math.sqrt(err_ssh / ref_ssh),
    }


class _CsvLog:
    """Append-only CSV of epoch records; the header is fixed by the first record."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, float]) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(record))
            if new:
                writer.writeheader()
            writer.writerow(record)

    def read(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open() as fh:
            return list(csv.DictReader(fh))


def plot_losses(log_rows: list[dict[str, str]], path: Path) -> None:
    """PNG of training and validation loss per epoch (log scale), written atomically."""
    from matplotlib.figure import Figure

    if not log_rows:
        return
    epochs = [int(r["epoch"]) for r in log_rows]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    ax.semilogy(epochs, [float(r["train_loss"]) for r in log_rows], label="train (all blocks)")
    ax.semilogy(epochs, [float(r["val_loss"]) for r in log_rows], label="validation (last block)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    ax2.plot(epochs, [float(r["val_tau_uv"]) for r in log_rows], label="τ_uv (%)")
    ax2.plot(epochs, [100 * float(r["val_mu_ssh"]) for r in log_rows], label="100 µ(SSH)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation score")
    ax2.legend()
    ax2.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def _write_config(config: TrainConfig, path: Path) -> None:
    path.write_text(f"# config hash {config.digest()}\n" + dump_toml(config.to_mapping()))


def train(config: TrainConfig, run_dir: Path, resume: bool = False,
          progress: bool = True) -> Path:
    """Train a model; return the path of the best checkpoint.

    Parameters
    ----------
    config : TrainConfig
        The run.
    run_dir : pathlib.Path
        Run directory (created). With ``resume``, training continues from
        ``checkpoints/last.pt`` there (its configuration must have the same hash).
    resume : bool
        Continue an interrupted run.
    progress : bool
        Show progress bars (rank 0 only).

    Returns
    -------
    pathlib.Path
        ``run_dir / "checkpoints" / "best.pt"``.
    """
    rt = runtime_for(config.optim.device, config.optim.threads)
    seed_everything(config.optim.seed + rt.rank)
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    if not resume and (run_dir / "log.csv").exists():
        raise InputError(f"{run_dir} already holds a run (log.csv); continue it with --resume "
                         "or give another --run-dir")
    show = progress and rt.is_main

    if rt.world > 1 and not rt.is_main:
        torch_dist.barrier()  # rank 0 prepares (or reads) the cached arrays first
    periods = prepared_periods(config, show)
    if rt.world > 1 and rt.is_main:
        torch_dist.barrier()
    stats = normalisation_from(periods["train"])
    d = config.data
    grid = Grid(periods["train"].lat, periods["train"].lon, name=config.name)
    train_set = WindowDataset(periods["train"], d.window_days, d.patch, d.stride,
                              augment=d.augment_masks, seed=config.optim.seed)
    val_set = WindowDataset(periods["validation"], d.window_days, d.patch, d.stride)
    model = build_model(config.model, d.window_days, stats).to(rt.device)
    weight = torch.from_numpy(patch_weight((d.window_days, *d.patch), d.weight_crop))
    objective = Objective(model, weight.float(), config.loss).to(rt.device)
    optimizer = _optimizer(model, config)

    start_epoch, best = 0, math.inf
    if resume and last_path.exists():
        payload = read_checkpoint(last_path)
        if payload.get("resume_hash") != config.resume_digest():
            raise InputError(f"{last_path}: was written by a different configuration (only "
                             "optim.epochs and optim.max_minutes may change on --resume); "
                             "start a new run directory instead")
        model.load_state_dict(payload["model_state"])
        optimizer.load_state_dict(payload["optimizer_state"])
        start_epoch, best = int(payload["epoch"]) + 1, float(payload["best_val_loss"])
        torch.set_rng_state(payload["torch_rng"])
        log.info("resuming %s at epoch %d (best validation loss %.4g)", run_dir, start_epoch,
                 best)
    if rt.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_config(config, run_dir / "config.toml")
    csv_log = _CsvLog(run_dir / "log.csv")

    sampler = None
    if rt.world > 1:
        sampler = DistributedSampler(train_set, rt.world, rt.rank, seed=config.optim.seed)
        trainer = DistributedDataParallel(objective, device_ids=(
            [rt.device.index] if rt.device.type == "cuda" else None))
    else:
        trainer = objective
        if config.optim.samples_per_epoch:
            sampler = RandomSampler(train_set, num_samples=config.optim.samples_per_epoch)
    loader = DataLoader(train_set, batch_size=config.optim.batch_size, shuffle=sampler is None,
                        sampler=sampler, drop_last=False)
    val_loader = DataLoader(val_set, batch_size=config.optim.batch_size)

    t_start = time.monotonic()
    budget_s = 60.0 * config.optim.max_minutes
    for epoch in range(start_epoch, config.optim.epochs):
        train_set.set_epoch(epoch)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        t0 = time.monotonic()
        sums: dict[str, float] = {}
        count = 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.optim.epochs}", disable=not show,
                   leave=False, unit="batch")
        for batch in bar:
            result: BatchLoss = trainer(_to_device(batch, rt.device))
            optimizer.zero_grad(set_to_none=True)
            result.total.backward()
            optimizer.step()
            value = float(result.total.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(f"epoch {epoch + 1}: the training loss became {value}; "
                                       "lower optim.lr or check the inputs")
            count += 1
            for k, v in {"train_loss": value, **result.terms}.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{sums['train_loss'] / count:.4g}")
        train_s = time.monotonic() - t0
        record = {"epoch": epoch + 1, **{k: v / count for k, v in sums.items()}}
        if (epoch + 1) % config.optim.validate_every == 0 or epoch + 1 == config.optim.epochs:
            record.update(_validate(objective, val_loader, rt.device))
        else:
            record.update({"val_loss": math.nan, "val_tau_uv": math.nan, "val_mu_ssh": math.nan})
        record.update({"train_seconds": train_s, "elapsed_seconds": time.monotonic() - t_start})
        improved = record["val_loss"] < best
        if improved:
            best = record["val_loss"]
        if rt.is_main:
            csv_log.append(record)
            common = {"config_hash": config.digest(), "resume_hash": config.resume_digest(),
                      "epoch": epoch,
                      "val_loss": record["val_loss"], "best_val_loss": best,
                      "training_period": [str(p) for p in d.train],
                      "validation": {k: record[k] for k in ("val_loss", "val_tau_uv",
                                                            "val_mu_ssh")}}
            if improved:
                save_checkpoint(best_path, model, config, grid, common)
            save_checkpoint(last_path, model, config, grid, {
                **common, "optimizer_state": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state()})
            log.info("epoch %d: train %.4g, validation %.4g (tau_uv %.1f %%), %.0f s%s",
                     epoch + 1, record["train_loss"], record["val_loss"], record["val_tau_uv"],
                     train_s, " (best)" if improved else "")
        if budget_s and time.monotonic() - t_start > budget_s:
            log.info("stopping after epoch %d: the %.0f-minute budget is spent", epoch + 1,
                     config.optim.max_minutes)
            break
    if rt.is_main:
        plot_losses(csv_log.read(), run_dir / "figures" / "losses.png")
    if rt.world > 1:
        torch_dist.destroy_process_group()
    return best_path

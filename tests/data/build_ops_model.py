"""Build the tiny operations model committed in ``tests/data/ops-model/`` (needs torch).

The operations tests make products with this model in every environment, including the
operations host's (``pip install 'varnet[ops,dev]'``, no torch), which cannot build it. It is
built once by this script, with the project's own export path, and committed with its
provenance:

``tiny.pt``
    The checkpoint: a tiny 4DVarNet (SSH + SST; 4 latent channels, one solver step, one
    cascade), untrained (weights drawn with ``torch.manual_seed(0)``), on the tiny ocean's grid
    (``configs/osse-tiny.toml``: 64 x 64 cells at 0.1 degree) coarsened by 2, i.e. 32 x 32
    cells at 0.2 degree from 34.9 N, 63.1 W. The PyTorch parity test reads it where torch is
    installed.
``tiny.onnx``
    That checkpoint exported by :func:`varnet.export.graph.export_model` (the route of
    ``varnet-export``, without its test-period verification), less the exporter's debugging
    records (:func:`strip_debug_records`: 190 KB instead of 960 KB).
``PROVENANCE.json``
    The command, the git commit checked out (``dirty``: the working tree had changes; a
    model built before its own commit records the commit before it), the versions of Python,
    varnet, torch, onnx and onnxscript, the model's digests and grid, and the size and
    SHA-256 of each file. ``tests/operational/test_ops_model.py`` checks the
    files against it everywhere and, where torch is installed, that this script still builds
    the same model.

Run it from the repository root with the development environment (``make venv``)::

    .venv/bin/python tests/data/build_ops_model.py

It generates the tiny ocean in a temporary folder (for its grid), then writes the three files
(``--out`` another folder). Rebuild when the checkpoint or export format, the model or the
tiny ocean's grid change, and commit the three files together.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The committed model's folder.
MODEL_DIR = Path(__file__).resolve().parent / "ops-model"
ONNX_NAME, CHECKPOINT_NAME, PROVENANCE_NAME = "tiny.onnx", "tiny.pt", "PROVENANCE.json"
#: Stands for the tiny ocean in the model's configuration: the grid is all the model keeps of
#: it, and a temporary path would change the configuration's digest at every build.
OSSE_NAME = "tiny-ocean (configs/osse-tiny.toml)"
SEED = 0


def sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_config():
    """The training configuration of the tiny model (data periods of the tiny ocean)."""
    from varnet.kernels.oi import OIConfig
    from varnet.training.config import (
        DataConfig,
        LossConfig,
        ModelConfig,
        OptimConfig,
        TrainConfig,
    )

    data = DataConfig(osse=OSSE_NAME, coarsen=2, window_days=3, patch=(32, 32),
                      stride=(16, 16), weight_crop=(1, 4, 4),
                      train=(dt.date(2012, 10, 1), dt.date(2012, 10, 14)),
                      validation=(dt.date(2012, 10, 15), dt.date(2012, 10, 19)),
                      test=(dt.date(2012, 10, 22), dt.date(2012, 10, 28)),
                      prepare_workers=1, oi=OIConfig(time_scale_days=2.0))
    net = ModelConfig(kind="4dvarnet", use_sst=True, dim_ae=4, kernel=3, lstm_channels=6,
                      n_grad=1, n_cascades=1, sst_features=3, dropout=0.0)
    return TrainConfig(name="tiny-ops", data=data, model=net,
                       loss=LossConfig(large_scale_pool=8, cascade_weights=(1.0,)),
                       optim=OptimConfig(epochs=1, batch_size=2, threads=1))


def strip_debug_records(model) -> None:
    """Drop the exporter's debugging records, which ONNX Runtime ignores: the
    ``metadata_props`` of each node (FX node, name scopes, stack trace: three quarters of the
    tiny model's bytes) and of the graph (the exported program's signature and range
    constraints, in an order that changes from run to run). The model's own metadata
    (``varnet.*``, read by operations) is kept, and the file is then the same at every build.
    """
    del model.graph.metadata_props[:]
    for node in model.graph.node:
        del node.metadata_props[:]


def build(ocean_dir: Path, folder: Path) -> tuple[Path, Path]:
    """Write the tiny model's checkpoint and its ONNX export into ``folder``.

    Parameters
    ----------
    ocean_dir : pathlib.Path
        The tiny ocean (``varnet-osse generate --config configs/osse-tiny.toml``): its truth
        file gives the grid.
    folder : pathlib.Path
        Destination (created); ``tiny.pt`` and ``tiny.onnx`` are replaced.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The ONNX file and the checkpoint.
    """
    import torch

    from varnet.datamodel.grid import Grid
    from varnet.export.graph import export_model, save_model
    from varnet.io.readers import read_truth
    from varnet.training.checkpoint import load_checkpoint, save_checkpoint
    from varnet.training.model import Normalisation, build_model

    config = tiny_config()
    with read_truth(ocean_dir / "truth.nc") as truth:
        grid = Grid(truth["lat"].values, truth["lon"].values).coarsened(config.data.coarsen)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        module = build_model(config.model, config.data.window_days,
                             Normalisation(ssh_mean=0.0, ssh_std=0.1, sst_mean=290.0,
                                           sst_std=2.0, uv_std=0.3))
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, onnx_path = folder / CHECKPOINT_NAME, folder / ONNX_NAME
    save_checkpoint(checkpoint, module, config, grid, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = export_model(load_checkpoint(checkpoint))
    strip_debug_records(exported.model)
    save_model(exported.model, onnx_path)
    return onnx_path, checkpoint


def git_commit() -> dict[str, object]:
    """The repository's commit and whether the working tree differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def provenance(files: list[Path], command: list[str]) -> dict[str, object]:
    """The provenance record of built files: how, from what, and their checksums."""
    import onnx
    import onnxscript
    import torch

    import varnet
    from varnet.runtime.metadata import read_metadata

    onnx_path = next(p for p in files if p.suffix == ".onnx")
    metadata = read_metadata(onnx_path)
    return {
        "description": "tiny untrained 4DVarNet (SSH + SST) on the tiny ocean's grid coarsened "
                       "by 2, for the operations tests; built by tests/data/build_ops_model.py",
        "command": " ".join(command),
        "built": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_commit(),
        "seed": SEED,
        "ocean": "configs/osse-tiny.toml",
        "versions": {"python": platform.python_version(), "varnet": varnet.__version__,
                     "torch": str(torch.__version__), "onnx": onnx.__version__,
                     "onnxscript": onnxscript.__version__},
        "model": {"model_id": metadata.model_id, "config_sha256": metadata.config_sha256,
                  "weights_sha256": metadata.weights_sha256, "grid": metadata.grid,
                  "opset": metadata.opset},
        "files": {p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in files},
    }


def main(argv: list[str] | None = None) -> int:
    """Generate the tiny ocean, build the model into ``--out`` and record its provenance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR,
                        help=f"destination folder (default: {MODEL_DIR.relative_to(ROOT)})")
    args = parser.parse_args(argv)

    from varnet.config import load_toml
    from varnet.osse.config import OsseConfig
    from varnet.osse.generate import generate

    with tempfile.TemporaryDirectory(prefix="tiny-ocean-") as tmp:
        config = load_toml(OsseConfig, ROOT / "configs" / "osse-tiny.toml")
        ocean = generate(config, Path(tmp), progress=False)
        files = list(build(ocean.out_dir, args.out))
    command = ["python", "tests/data/build_ops_model.py", *(argv if argv is not None
                                                           else sys.argv[1:])]
    record = provenance(files, command)
    (args.out / PROVENANCE_NAME).write_text(json.dumps(record, indent=2) + "\n")
    for name, entry in record["files"].items():
        print(f"{args.out / name}: {entry['bytes']} bytes, sha256 {entry['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

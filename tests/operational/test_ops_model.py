"""The operations host (no torch): the committed tiny model the operations tests make products
with, and the modules it imports.

``tests/data/ops-model/`` holds the model, built by ``tests/data/build_ops_model.py`` (torch)
and committed so that an environment without torch tests the product pipeline too. Its files
are checked against their recorded checksums everywhere and, where torch is installed, the
script must still build the same model: the committed files cannot silently rot.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from varnet.datamodel.grid import Grid
from varnet.io.readers import read_truth
from varnet.runtime.metadata import read_metadata

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "tests" / "data" / "build_ops_model.py"


def build_script() -> ModuleType:
    """``tests/data/build_ops_model.py`` as a module (it imports torch only when building)."""
    spec = importlib.util.spec_from_file_location("build_ops_model", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return build_script()


@pytest.fixture(scope="module")
def provenance(script) -> dict:
    return json.loads((script.MODEL_DIR / script.PROVENANCE_NAME).read_text())


def test_the_committed_model_files_are_those_recorded(script, provenance):
    folder = script.MODEL_DIR
    names = {script.ONNX_NAME, script.CHECKPOINT_NAME}
    assert {p.name for p in folder.iterdir()} == names | {script.PROVENANCE_NAME}
    assert set(provenance["files"]) == names
    for name, entry in provenance["files"].items():
        path = folder / name
        assert path.stat().st_size == entry["bytes"], name
        assert script.sha256(path) == entry["sha256"], (
            f"{name} is not the file recorded in {script.PROVENANCE_NAME}: rebuild both with "
            f"{BUILD_SCRIPT.relative_to(ROOT)}")
        assert entry["bytes"] < 500_000, f"{name}: keep the repository light"
    metadata = read_metadata(folder / script.ONNX_NAME)
    for key in ("model_id", "config_sha256", "weights_sha256", "grid", "opset"):
        assert getattr(metadata, key) == provenance["model"][key], key


def test_the_committed_model_fits_the_tiny_ocean_coarsened_by_2(script, tiny_ocean):
    metadata = read_metadata(script.MODEL_DIR / script.ONNX_NAME)
    with read_truth(tiny_ocean.out_dir / "truth.nc") as truth:
        grid = Grid(truth["lat"].values, truth["lon"].values).coarsened(
            metadata.config["data"]["coarsen"])
    assert metadata.grid["shape"] == [grid.lat.size, grid.lon.size] == [32, 32]
    np.testing.assert_allclose([metadata.grid["lat0"], metadata.grid["lon0"],
                                metadata.grid["resolution_deg"]],
                               [grid.lat[0], grid.lon[0], grid.lat[1] - grid.lat[0]], atol=1e-9)
    assert (metadata.model_kind, metadata.uses_sst, metadata.window_days) == ("4dvarnet", True, 3)


@pytest.mark.torch
@pytest.mark.slow
def test_the_build_script_still_builds_the_committed_model(script, provenance, tiny_ocean,
                                                           tmp_path):
    """Same weights, configuration and checkpoint as the committed files; with the torch
    version that built them, the same ONNX bytes; with another, the same outputs."""
    pytest.importorskip("torch")
    from varnet.export.graph import weights_sha256
    from varnet.runtime.onnx_model import OnnxModel
    from varnet.training.checkpoint import load_checkpoint

    onnx_path, checkpoint = script.build(tiny_ocean.out_dir, tmp_path)
    committed = script.MODEL_DIR / script.ONNX_NAME
    built, recorded = read_metadata(onnx_path), read_metadata(committed)
    assert (built.model_id, built.config_sha256, built.weights_sha256, built.grid) == (
        recorded.model_id, recorded.config_sha256, recorded.weights_sha256, recorded.grid)
    loaded = load_checkpoint(script.MODEL_DIR / script.CHECKPOINT_NAME)
    assert weights_sha256(loaded.model) == recorded.weights_sha256
    assert loaded.config.digest() == recorded.config_sha256
    rebuilt = load_checkpoint(checkpoint)  # its bytes differ: the zip names its temporary file
    assert (rebuilt.config, rebuilt.grid) == (loaded.config, loaded.grid)
    if provenance["versions"]["torch"] == built.torch_version:
        assert script.sha256(onnx_path) == provenance["files"][script.ONNX_NAME]["sha256"]
    rng = np.random.default_rng(0)
    inputs = {"oi": 0.1 * rng.standard_normal((1, 3, 32, 32)),
              "obs": np.where(rng.random((1, 3, 32, 32)) < 0.1, 0.1, np.nan),
              "sst": 290.0 + rng.standard_normal((1, 3, 32, 32))}
    inputs = {name: value.astype(np.float32) for name, value in inputs.items()}
    new, old = OnnxModel(onnx_path, "cpu").run(inputs), OnnxModel(committed, "cpu").run(inputs)
    for name in ("ssh", "u", "v"):
        np.testing.assert_allclose(new[name], old[name], rtol=0, atol=1e-6, err_msg=name)


# --------------------------------------------------------------------------------------------
# operations hosts have no torch


def test_metadata_and_inference_modules_do_not_import_torch():
    code = ("import sys; import varnet.runtime.metadata, varnet.runtime.onnx_model; "
            "print(sorted({'torch', 'onnxscript'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

"""Package-level guarantees: operations hosts need no torch; configs match the defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from varnet.config import load_toml
from varnet.osse.config import OsseConfig, gulf_stream

ROOT = Path(__file__).resolve().parents[1]


def test_reader_kernels_and_osse_import_without_torch():
    code = ("import sys, varnet.io.readers, varnet.io.writers, varnet.kernels.finite_differences,"
            " varnet.osse.generate; assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_toml_spells_out_the_gulf_stream_and_open_toml_the_dataclass_defaults():
    assert load_toml(OsseConfig, ROOT / "configs" / "osse-default.toml") == gulf_stream()
    assert load_toml(OsseConfig, ROOT / "configs" / "osse-open.toml") == OsseConfig()

"""varnet-ops's error surface: one readable line and a documented exit code for every error a
person acts on (:class:`varnet.errors.VarnetError`), a traceback for a bug, readable help."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from varnet.errors import EXIT_CONFIG, EXIT_LEDGER, EXIT_LOCKED, VarnetError
from varnet.operational import cli, status
from varnet.operational.config import load_ops_config
from varnet.operational.ledger import LedgerError, LockHeldError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path) -> str:
    """The demo configuration with its folders in ``tmp_path``, made by ``varnet-ops init``."""
    text = (REPO / "configs" / "ops-demo.toml").read_text()
    text = text.replace('"../models/demo/demo.onnx"', f'"{REPO}/models/demo/demo.onnx"')
    text = text.replace('"demo-region-sftof.nc"', f'"{REPO}/configs/demo-region-sftof.nc"')
    text = text.replace('"../demo-output/ops/', f'"{tmp_path}/')
    path = tmp_path / "ops.toml"
    path.write_text(text)
    result = run("init", "--config", str(path))
    assert result.exit_code == 0, result.output
    return str(path)


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args))


def test_top_level_help_keeps_one_command_per_line():
    result = run("--help")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for command in ("ingest", "run", "reprocess", "daemon", "status", "score", "drift"):
        assert any(line.strip().startswith(f"varnet-ops {command}") for line in lines), command
    for code in range(5):
        assert any(line.strip().startswith(f"{code}  ") for line in lines), code


def test_an_argument_error_is_one_line_and_exit_2(config):
    pytest.importorskip("onnxruntime")
    result = run("reprocess", "--config", config, "--start", "2012-10-05", "--end",
                 "2012-10-01", "--quiet")
    assert result.exit_code == EXIT_CONFIG, result.output
    assert result.output.strip() == ("error: configuration: --end: 2012-10-01 is before "
                                     "--start 2012-10-05")


@pytest.mark.parametrize("error, code, text", [
    (LedgerError("state/ledger.sqlite is empty\nrun: varnet-ops ledger rebuild"), EXIT_LEDGER,
     "error: ledger: state/ledger.sqlite is empty run: varnet-ops ledger rebuild"),
    (LockHeldError(Path("daemon.lock"), 123, "daemon.lock is held by pid 123 on host1"),
     EXIT_LOCKED, "error: daemon.lock is held by pid 123 on host1"),
])
def test_varnet_errors_end_in_one_line_and_their_own_exit_code(monkeypatch, config, error,
                                                                code, text):
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(status, "status_report", fail)
    result = run("status", "--config", config)
    assert result.exit_code == code
    assert result.output.strip() == text
    assert "Traceback" not in result.output


def test_a_bug_keeps_its_traceback(monkeypatch, config):
    def fail(*args: object, **kwargs: object) -> None:
        raise KeyError("programming error")

    monkeypatch.setattr(status, "status_report", fail)
    result = run("status", "--config", config)
    assert isinstance(result.exception, KeyError)  # not swallowed into an "error:" line


def test_a_missing_folder_stops_a_command_naming_its_key(config, tmp_path):
    (tmp_path / "inbox").rmdir()
    result = run("ingest", "--config", config)
    assert result.exit_code == EXIT_CONFIG
    assert result.output.startswith("error: configuration: ")
    assert "paths.inbox" in result.output and "varnet-ops init" in result.output


def test_every_operations_error_is_a_varnet_error(config):
    from varnet.config import ConfigError
    from varnet.io.readers import InputFileError
    from varnet.operational.feed import FeedError
    from varnet.operational.pipeline import NoInputError
    from varnet.operational.scoring import MissingProductsError
    from varnet.runtime.metadata import ModelMismatch

    for kind in (ConfigError, ModelMismatch, InputFileError, FeedError, NoInputError,
                 MissingProductsError, LedgerError, LockHeldError):
        assert issubclass(kind, VarnetError), kind
    assert load_ops_config(config).name == "demo"


def test_an_empty_ledger_is_refused_with_the_rebuild_command_for_this_configuration(config):
    state = Path(load_ops_config(config).paths.ledger_file)
    state.write_bytes(b"")
    result = run("status", "--config", config)
    assert result.exit_code == EXIT_LEDGER
    (line,) = result.output.splitlines()
    assert line.startswith(f"error: ledger: {state} is empty (0 bytes)")
    assert line.endswith(f"varnet-ops ledger rebuild --config {config}")

"""The one error surface of the four command-line tools (:mod:`varnet.cli_errors`).

Each tool's top-level command catches :class:`varnet.errors.VarnetError` only: one line
starting ``error:`` on the standard error and the error's exit code (the table of
:mod:`varnet.errors`); any other exception (a bug) propagates with its traceback. The tests
of ``varnet-export`` that load a checkpoint need torch and are marked ``torch``; the others
run on an operations host.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from varnet.cli_errors import VarnetCommand, VarnetGroup
from varnet.errors import (
    EXIT_ATTENTION,
    EXIT_CONFIG,
    EXIT_LOCKED,
    InputError,
    MissingPathError,
    VarnetError,
)

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def _entry_point(tool: str) -> click.Command:
    module, name = SCRIPTS[tool].split(":")
    return getattr(importlib.import_module(module), name)


def _one_error_line(result) -> str:
    """The single line a stopped command printed on the standard error."""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines
    return lines[0]


def _raise_zero_division(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("a bug")


# --- the handler ---------------------------------------------------------------------------


class _Held(VarnetError):
    exit_code = EXIT_LOCKED
    what = "lock"


def _command(error: BaseException, rewrite=None) -> click.Command:
    @click.command(cls=VarnetCommand, rewrite=rewrite)
    def command() -> None:
        raise error

    return command


def test_a_varnet_error_is_one_line_on_stderr_and_its_exit_code():
    result = CliRunner().invoke(_command(_Held("x.lock is held\nby pid 7")))
    assert result.exit_code == EXIT_LOCKED
    assert result.stdout == ""
    assert _one_error_line(result) == "error: lock: x.lock is held by pid 7"


def test_the_rewrite_hook_sees_the_line_before_it_is_printed():
    command = _command(InputError("run: varnet-ops init --config OPS.toml"),
                       rewrite=lambda line: line.replace("OPS.toml", "/etc/ops.toml"))
    result = CliRunner().invoke(command)
    assert result.exit_code == EXIT_CONFIG
    assert _one_error_line(result) == "error: run: varnet-ops init --config /etc/ops.toml"


@pytest.mark.parametrize("error", [ZeroDivisionError("a bug"), ValueError("a bug"),
                                   KeyError("a bug"), FileNotFoundError("a bug")])
def test_any_other_exception_propagates(error):
    result = CliRunner().invoke(_command(error))
    assert result.exception is error  # not turned into an "error:" line
    with pytest.raises(type(error)):
        _command(error).main([], standalone_mode=True)


def test_outside_standalone_mode_a_varnet_error_propagates_to_the_caller():
    error = InputError("bad")
    with pytest.raises(InputError) as raised:
        _command(error).main([], standalone_mode=False)
    assert raised.value is error


def test_a_group_covers_its_nested_sub_commands():
    @click.group(cls=VarnetGroup)
    def top() -> None:
        pass

    @top.group()
    def inner() -> None:
        pass

    @inner.command()
    def leaf() -> None:
        raise MissingPathError("/data/inbox: no such folder")

    result = CliRunner().invoke(top, ["inner", "leaf"])
    assert result.exit_code == EXIT_CONFIG
    assert _one_error_line(result) == "error: /data/inbox: no such folder"


def test_the_new_errors_keep_the_built_in_bases_other_code_catches():
    assert issubclass(InputError, ValueError)
    assert issubclass(MissingPathError, FileNotFoundError) and issubclass(MissingPathError,
                                                                           InputError)
    assert str(MissingPathError("a/b: missing")) == "a/b: missing"
    assert InputError.exit_code == MissingPathError.exit_code == EXIT_CONFIG


def test_the_readers_and_exporters_errors_are_varnet_errors():
    from varnet.export.cli import ScoresError, VerificationFailed
    from varnet.io.ghrsst_mask import MaskError

    assert issubclass(MaskError, VarnetError) and issubclass(MaskError, ValueError)
    assert MaskError.exit_code == EXIT_CONFIG
    assert issubclass(ScoresError, InputError)
    assert VerificationFailed.exit_code == EXIT_ATTENTION


@pytest.mark.torch
def test_the_training_and_export_errors_are_varnet_errors():
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from varnet.export.graph import ExportError
    from varnet.export.precision import Float16Unverifiable
    from varnet.training.checkpoint import CheckpointError
    from varnet.training.train import TrainingDiverged

    for kind, base, code in ((ExportError, RuntimeError, EXIT_ATTENTION),
                             (Float16Unverifiable, RuntimeError, EXIT_ATTENTION),
                             (CheckpointError, ValueError, EXIT_CONFIG),
                             (TrainingDiverged, FloatingPointError, EXIT_ATTENTION)):
        assert issubclass(kind, VarnetError) and issubclass(kind, base), kind
        assert kind.exit_code == code, kind
    assert (TrainingDiverged("epoch 3: the training loss became nan").one_line()
            == "error: training diverged: epoch 3: the training loss became nan")


# --- every tool uses it --------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["varnet-osse", "varnet-train", "varnet-export", "varnet-ops"])
def test_every_tool_stops_on_varnet_errors_and_documents_its_exit_codes(tool):
    main = _entry_point(tool)
    assert isinstance(main, VarnetCommand | VarnetGroup), tool
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Exit status:" in result.output
    assert any(line.strip().startswith("2  bad ") for line in
               result.output.splitlines()), result.output


# --- varnet-osse ---------------------------------------------------------------------------


@pytest.fixture
def osse_main() -> click.Command:
    return _entry_point("varnet-osse")


def test_osse_a_bad_configuration_is_one_line_naming_file_and_key(osse_main, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[ocean]\ncolour = 'blue'\n")
    for command in ("generate", "spinup"):
        result = CliRunner().invoke(osse_main, [command, "--config", str(bad), "--out",
                                                str(tmp_path / "out")])
        assert result.exit_code == EXIT_CONFIG, result.output
        line = _one_error_line(result)
        assert line.startswith(f"error: configuration: {bad}: ocean.colour: unknown key")
    assert not (tmp_path / "out").exists()


def test_osse_a_missing_configuration_file_is_one_line_naming_it(osse_main, tmp_path):
    missing = tmp_path / "nowhere.toml"
    result = CliRunner().invoke(osse_main, ["generate", "--config", str(missing), "--out",
                                            str(tmp_path / "out")])
    assert result.exit_code == EXIT_CONFIG
    assert str(missing) in _one_error_line(result)


def test_osse_a_bug_keeps_its_traceback(osse_main, tmp_path, monkeypatch):
    monkeypatch.setattr("varnet.osse.generate.generate", _raise_zero_division)
    result = CliRunner().invoke(osse_main, ["generate", "--out", str(tmp_path / "out"),
                                            "--quiet"])
    assert isinstance(result.exception, ZeroDivisionError)
    assert "error:" not in result.output


# --- varnet-train --------------------------------------------------------------------------


@pytest.fixture
def train_main() -> click.Command:
    return _entry_point("varnet-train")


def test_train_a_bad_configuration_is_one_line_naming_file_and_key(train_main, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[optim]\nlearning_rate = 0.1\n')
    result = CliRunner().invoke(train_main, ["--config", str(bad), "--run-dir",
                                             str(tmp_path / "run")])
    assert result.exit_code == EXIT_CONFIG, result.output
    line = _one_error_line(result)
    assert line.startswith(f"error: configuration: {bad}: optim.learning_rate: unknown key")
    assert not (tmp_path / "run").exists()


def test_train_a_missing_configuration_file_is_one_line_naming_it(train_main, tmp_path):
    missing = tmp_path / "nowhere.toml"
    result = CliRunner().invoke(train_main, ["--config", str(missing)])
    assert result.exit_code == EXIT_CONFIG
    assert str(missing) in _one_error_line(result)


def test_train_without_config_shows_help_and_one_error_line(train_main):
    result = CliRunner().invoke(train_main, [])
    assert result.exit_code == EXIT_CONFIG
    assert "Usage:" in result.stdout
    assert _one_error_line(result) == "error: give --config FILE to train, or a sub-command"


def test_train_a_bug_keeps_its_traceback(train_main, tmp_path, monkeypatch):
    config = tmp_path / "ok.toml"
    config.write_text('name = "x"\n')
    monkeypatch.setattr("varnet.training.config.load_config", _raise_zero_division)
    result = CliRunner().invoke(train_main, ["--config", str(config)])
    assert isinstance(result.exception, ZeroDivisionError)
    assert "error:" not in result.output


# --- varnet-export -------------------------------------------------------------------------


@pytest.fixture
def export_main() -> click.Command:
    return _entry_point("varnet-export")


@pytest.mark.parametrize("text, problem", [
    ("method,tau_uv\nOI geostrophy,12.0\n", "no row '4DVarNet SSH-SST'"),
    ("name,tau_uv\n4DVarNet SSH-SST,12.0\n", "no 'method' column"),
    ("method,tau_uv\n4DVarNet SSH-SST,high\n",
     "row '4DVarNet SSH-SST', column 'tau_uv': 'high' is not a number"),
    ("", "not a readable CSV score table"),
])
def test_export_a_bad_score_table_is_a_scores_error_naming_the_file(tmp_path, text, problem):
    from varnet.export.cli import ScoresError, read_scores

    path = tmp_path / "scores.csv"
    path.write_text(text)
    with pytest.raises(ScoresError) as raised:
        read_scores(path, "4DVarNet SSH-SST")
    assert raised.value.one_line().startswith(f"error: scores: {path}: {problem}")
    assert raised.value.exit_code == EXIT_CONFIG


def test_export_reads_a_good_score_table(tmp_path):
    from varnet.export.cli import read_scores

    path = tmp_path / "scores.csv"
    path.write_text("method,tau_uv,mu_ssh\nOI geostrophy,12.0,0.5\n4DVarNet,70.5,0.9\n")
    assert read_scores(path, "4DVarNet") == {"tau_uv": 70.5, "mu_ssh": 0.9}


@pytest.mark.torch
def test_export_a_file_that_is_not_a_checkpoint_is_one_line_naming_it(export_main, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    fake = tmp_path / "model.pt"
    fake.write_text("not a checkpoint\n")
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(export_main, [str(fake), "-o", str(out), "--quiet"])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert _one_error_line(result).startswith(f"error: {fake}: not a readable checkpoint")
    assert not out.exists()


@pytest.mark.torch
def test_export_a_bug_keeps_its_traceback(export_main, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")
    monkeypatch.setattr("varnet.training.checkpoint.load_checkpoint", _raise_zero_division)
    result = CliRunner().invoke(export_main, [str(checkpoint), "-o",
                                              str(tmp_path / "model.onnx"), "--quiet"])
    assert isinstance(result.exception, ZeroDivisionError)
    assert "error:" not in result.output


# --- varnet-ops ----------------------------------------------------------------------------


@pytest.fixture
def ops_main() -> click.Command:
    return _entry_point("varnet-ops")


@pytest.fixture
def ops_config(tmp_path) -> Path:
    """The demo operations configuration, its folders in ``tmp_path`` (not created)."""
    text = (REPO / "configs" / "ops-demo.toml").read_text()
    text = text.replace('"../models/demo/demo.onnx"', f'"{REPO}/models/demo/demo.onnx"')
    text = text.replace('"demo-region-sftof.nc"', f'"{REPO}/configs/demo-region-sftof.nc"')
    text = text.replace('"../demo-output/ops/', f'"{tmp_path}/')
    path = tmp_path / "ops.toml"
    path.write_text(text)
    return path


def test_ops_a_bad_configuration_is_one_line_naming_file_and_key(ops_main, ops_config):
    ops_config.write_text(ops_config.read_text().replace(
        "[paths]\n", "[paths]\nspool = \"/tmp/spool\"\n"))
    for command in ("init", "status"):
        result = CliRunner().invoke(ops_main, [command, "--config", str(ops_config)])
        assert result.exit_code == EXIT_CONFIG, result.output
        line = _one_error_line(result)
        assert line.startswith("error: configuration: ") and str(ops_config) in line
        assert "paths.spool: unknown key" in line


def test_ops_a_bug_keeps_its_traceback(ops_main, ops_config, monkeypatch):
    monkeypatch.setattr("varnet.operational.config.load_ops_config", _raise_zero_division)
    result = CliRunner().invoke(ops_main, ["init", "--config", str(ops_config)])
    assert isinstance(result.exception, ZeroDivisionError)
    assert "error:" not in result.output


def test_ops_conflicting_options_are_one_line_and_exit_2(ops_main, ops_config):
    result = CliRunner().invoke(ops_main, ["daemon", "--config", str(ops_config),
                                           "--simulate-days", "3"])
    assert result.exit_code == EXIT_CONFIG
    assert _one_error_line(result) == ("error: --simulate-days only make sense with "
                                       "--simulate-from")

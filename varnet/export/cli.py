"""``varnet-export``: a checkpoint to one verified, self-describing, unrolled ONNX graph.

    varnet-export CHECKPOINT -o model.onnx [--no-verify] [--osse DIR] [--windows N]
                  [--scores CSV] [--fp16]

The checkpoint's evaluation scores are read from ``--scores`` or, by default, from the
``evaluation/scores.csv`` that ``varnet-train evaluate`` wrote beside it (next to a
``.pt`` file, or in its run directory). Verification (default on) compares ONNX Runtime with
PyTorch on held-back windows of the test period and deletes the export if it fails.
Where the ocean has land, the table beyond the coastal band (``scores_offshore_20km.csv``
beside ``scores.csv``) is embedded too, its keys prefixed ``offshore_20km.``.

\b
Exit status:
    0  written (and verified)
    1  the model cannot be exported as standard ONNX, or the export failed its parity
       check: nothing written (an earlier model at OUTPUT is kept)
    2  bad checkpoint, score table or arguments: nothing was done
Errors are one line; an unexpected error (a bug) shows its traceback.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click

from varnet.cli_errors import VarnetCommand
from varnet.errors import EXIT_ATTENTION, InputError, VarnetError

log = logging.getLogger("varnet.export")


class ScoresError(InputError):
    """A score table (``--scores``, or the ``evaluation/scores.csv`` found beside the
    checkpoint) cannot be read or has no row for the model; the message names the file.

    Bad input (exit status 2); also a :class:`ValueError`, for code that catches that.
    """

    what = "scores"


class VerificationFailed(VarnetError):
    """An export differs from PyTorch (or a float16 variant from its float32 graph) by more
    than the tolerance: nothing was written.

    ``varnet-export`` stops on it with exit status 1.
    """

    exit_code = EXIT_ATTENTION


def scores_path_for(checkpoint: Path) -> Path | None:
    """The ``evaluation/scores.csv`` beside a checkpoint or in its run directory, if any."""
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        candidate = folder / "evaluation" / "scores.csv"
        if candidate.is_file():
            return candidate
    return None


def offshore_scores(path: Path, method: str) -> dict[str, float]:
    """The row ``method`` of each table beyond a coastal band found beside ``path``.

    ``varnet-train evaluate`` writes ``scores_offshore_<band>km.csv`` beside ``scores.csv``
    where the ocean has land. Each such table's scores come back with keys prefixed
    ``offshore_<band>km.`` (e.g. ``offshore_20km.tau_uv``); none on the open ocean.

    Raises
    ------
    ScoresError
        As :func:`read_scores`, naming the offshore file.
    """
    scores: dict[str, float] = {}
    for table in sorted(path.parent.glob(f"{path.stem}_offshore_*km{path.suffix}")):
        prefix = table.stem.removeprefix(f"{path.stem}_")
        scores.update({f"{prefix}.{key}": value
                       for key, value in read_scores(table, method).items()})
    return scores


def read_scores(path: Path, method: str) -> dict[str, float]:
    """The row ``method`` of a score table CSV (``varnet-train evaluate``).

    Raises
    ------
    ScoresError
        If the file cannot be read as a CSV table, has no ``method`` column, no such row, or
        a value of the row that is not a number (a :class:`ValueError` too).
    """
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:  # pandas' errors for an unreadable or malformed CSV
        raise ScoresError(f"{path}: not a readable CSV score table ({exc})") from None
    if "method" not in table.columns:
        raise ScoresError(f"{path}: no 'method' column (columns: "
                          f"{', '.join(map(str, table.columns))}); expected a scores.csv of "
                          "varnet-train evaluate")
    rows = table[table["method"] == method]
    if rows.empty:
        raise ScoresError(f"{path}: no row '{method}' (rows: "
                          f"{', '.join(map(str, table['method']))})")
    scores: dict[str, float] = {}
    for key, value in rows.iloc[0].drop("method").items():
        try:
            scores[str(key)] = float(value)
        except (TypeError, ValueError):
            raise ScoresError(f"{path}: row '{method}', column '{key}': {value!r} is not a "
                              "number") from None
    return scores


@click.command(cls=VarnetCommand, help=__doc__)
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="ONNX file to write.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help=("Compare with PyTorch on held-back test windows; fail above rel-L2 "
                    "1e-5, or 4 x the model's input-rounding spread where larger."))
@click.option("--osse", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Synthetic ocean for verification (default: the training one).")
@click.option("--windows", type=click.IntRange(min=1), default=8, show_default=True,
              help="Held-back windows to verify on.")
@click.option("--scores", "scores_csv", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path),
              help="Score table CSV to take the model's scores from.")
@click.option("--fp16", is_flag=True,
              help="Also write a float16 variant (for GPUs) as OUTPUT with .fp16.onnx, "
                   "verified against the float32 graph (on a GPU where CUDA starts, else with "
                   "float16 rounding emulated on the CPU).")
@click.option("--quiet", is_flag=True, help="Warnings only.")
def main(checkpoint: Path, output: Path, verify: bool, osse: Path | None, windows: int,
         scores_csv: Path | None, fp16: bool, quiet: bool) -> None:
    """Entry point of ``varnet-export``."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%dT%H:%M:%S")
    for noisy in ("torch", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from varnet.export.graph import export_model, save_model
    from varnet.training.checkpoint import load_checkpoint
    from varnet.training.evaluate import method_name

    loaded = load_checkpoint(checkpoint)
    scores: dict[str, float] = {}
    source = scores_csv or scores_path_for(checkpoint)
    if source is None:
        log.warning("no evaluation/scores.csv beside %s: the metadata will hold no scores "
                    "(pass --scores)", checkpoint)
    else:
        scores = read_scores(source, method_name(loaded)) | offshore_scores(
            source, method_name(loaded))
    started = time.perf_counter()
    click.echo(f"exporting {checkpoint} ({method_name(loaded)}, "
               f"{loaded.config.model.n_grad} x {loaded.config.model.n_cascades} solver steps)")
    exported = export_model(loaded, scores)
    # written beside the output and renamed only once verified: an existing model there is
    # never replaced by one that failed
    staged = output.with_name(f".{output.name}.{os.getpid()}.staged")
    try:
        save_model(exported.model, staged)
        size = staged.stat().st_size / 2**20
        click.echo(f"exported {len(exported.model.graph.node)} nodes, {size:.1f} MiB, opset "
                   f"{exported.metadata.opset}, in {time.perf_counter() - started:.0f} s; "
                   f"model id {exported.metadata.model_id}")
        if verify:
            _verify(loaded, staged, osse, windows)
        os.replace(staged, output)
    finally:
        staged.unlink(missing_ok=True)
    click.echo(f"wrote {output}" + ("" if verify else " (not verified)"))
    if fp16:
        _export_fp16(loaded, output, osse, windows, verify)


def _verify(loaded, output: Path, osse: Path | None, windows: int) -> None:
    from varnet.export.verify import verify

    report = verify(loaded, output, osse, windows=windows, progress=True)
    for line in report.lines():
        click.echo(line)
    if not report.passed:
        raise VerificationFailed("parity check failed: nothing written")


def _export_fp16(loaded, output: Path, osse: Path | None, windows: int, verify: bool) -> None:
    from varnet.export.precision import Float16Unverifiable, to_float16, verify_float16
    from varnet.export.verify import load_held_back_windows

    half = output.with_suffix(".fp16.onnx")
    # staged like the float32 model: an existing variant is never replaced by a failed one
    staged = half.with_name(f".{half.name}.{os.getpid()}.staged")
    try:
        to_float16(output, staged)
        if verify:
            inputs, days = load_held_back_windows(loaded, osse, windows)
            try:
                report = verify_float16(output, staged, inputs, provider="auto", days=days)
            except Float16Unverifiable as exc:
                os.replace(staged, half)
                click.echo(f"float16 variant written, not verified: {exc}; verify on a GPU "
                           f"with: varnet-export {loaded.path} -o {output} --fp16")
                return
            for line in report.lines():
                click.echo(line)
            if not report.passed:
                raise VerificationFailed(f"{half}: float16 parity check failed; nothing written")
        os.replace(staged, half)
    finally:
        staged.unlink(missing_ok=True)
    click.echo(f"wrote {half}" + ("" if verify else " (not verified)"))

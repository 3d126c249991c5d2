"""Shared fixtures (the IOOS compliance checker's CF checks, the tiny synthetic ocean) and the
``torch`` marker's rules.

Tests that need torch (the ``train`` and ``export`` extras) are marked ``torch``: the modules
of :data:`TORCH_MODULES`, which import torch, and single tests marked in their own module.
Where torch is not installed, the tests marked ``torch`` are deselected (those modules are not
even collected). Every other test runs on an operations host (``pip install
'varnet[ops,dev]'``, no torch): ``make test-ops`` runs them there with ``--no-torch-skips``,
which fails a test not marked ``torch`` that is skipped for want of torch.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

#: Test modules that import torch when imported: each of their tests is marked ``torch``, and
#: where torch is not installed they are not collected (rather than skipped whole).
TORCH_MODULES = ("test_training_model.py", "test_training_run.py", "test_export.py")
_TORCH = re.compile(r"\btorch\b", re.IGNORECASE)


def torch_installed() -> bool:
    """Whether torch can be imported here (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-torch-skips", action="store_true",
        help="fail every test or module skipped for want of torch unless it is marked `torch` "
             "(the operations host's run, make test-ops)")


def pytest_report_header(config: pytest.Config) -> str | None:
    if torch_installed():
        return None
    return (f"torch: not installed; tests marked torch deselected, and their modules "
            f"{', '.join(TORCH_MODULES)} not collected")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name in TORCH_MODULES and not torch_installed():
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`TORCH_MODULES` ``torch``; where torch is not installed,
    deselect every test marked ``torch`` (they cannot run: not a skip, not a failure)."""
    for item in items:
        if item.path.name in TORCH_MODULES:
            item.add_marker(pytest.mark.torch)
    if torch_installed():
        return
    needs_torch = [item for item in items if item.get_closest_marker("torch")]
    if needs_torch:
        config.hook.pytest_deselected(items=needs_torch)
        items[:] = [item for item in items if not item.get_closest_marker("torch")]


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason of a skip report (its message, or the whole report)."""
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


def _torch_skip(report: pytest.TestReport | pytest.CollectReport, config: pytest.Config,
                marked: bool) -> str | None:
    """The reason of a skip for want of torch that ``--no-torch-skips`` turns into a failure,
    or None."""
    if not (config.getoption("no_torch_skips") and report.skipped and not marked
            and not hasattr(report, "wasxfail")):
        return None
    reason = _skip_reason(report)
    return reason if _TORCH.search(reason) else None


def _fail(report: pytest.TestReport | pytest.CollectReport, reason: str) -> None:
    report.outcome = "failed"
    report.longrepr = (f"--no-torch-skips: skipped for want of torch ({reason}), but not marked "
                       f"`torch`: on an operations host (no torch) this test must run")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    reason = _torch_skip(report, item.config, item.get_closest_marker("torch") is not None)
    if reason is not None:
        _fail(report, reason)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    reason = _torch_skip(report, collector.config, collector.path.name in TORCH_MODULES)
    if reason is not None:
        _fail(report, reason)
    return report


def _failed(groups, min_weight: int) -> list:
    failed = []
    for result in groups:
        failed += _failed(result.children, min_weight)
        value = result.value
        passed = value[0] == value[1] if isinstance(value, tuple) else bool(value)
        if result.weight >= min_weight and not passed:
            failed.append((result.name, result.msgs))
    return failed


@pytest.fixture(scope="session")
def cf_failures() -> Callable[[Path], list]:
    """Function returning the CF failures of a NetCDF file (empty list: compliant).

    Runs the compliance checker's current ``cf`` suite (high-priority failures) and its
    ``cf:1.8`` suite (medium and high), since our files declare CF-1.8.
    """
    from compliance_checker.base import BaseCheck
    from compliance_checker.runner import CheckSuite

    with warnings.catch_warnings():  # the deprecated ioos_sos plugin warns on import
        warnings.simplefilter("ignore", DeprecationWarning)
        CheckSuite.load_all_available_checkers()
    suite = CheckSuite()

    def check(path: Path) -> list:
        ds = suite.load_dataset(str(path))
        failures = []
        try:
            for checker, weight in (("cf", BaseCheck.HIGH), ("cf:1.8", BaseCheck.MEDIUM)):
                results = suite.run_all(ds, [checker], skip_checks=[])
                assert results, f"compliance checker {checker!r} not found"
                for groups, errors in results.values():
                    assert not errors, errors
                    failures += _failed(groups, weight)
        finally:
            ds.close()
        return failures

    return check


@pytest.fixture(scope="session")
def tiny_ocean(tmp_path_factory):
    """The tiny synthetic ocean, generated once per session; copy its folder before changing it.

    ``configs/osse-tiny.toml``: 64 x 64 cells at 0.1 degree, 30 days from 2012-10-01. Returns
    the :class:`varnet.osse.generate.OsseProducts` of the run.
    """
    from varnet.config import load_toml
    from varnet.osse.config import OsseConfig
    from varnet.osse.generate import generate

    config = load_toml(OsseConfig, Path(__file__).resolve().parents[1] / "configs" /
                       "osse-tiny.toml")
    return generate(config, tmp_path_factory.mktemp("tiny_ocean"), progress=False)


def corner_and_island(lat, lon):
    """A land mask laid over an open ocean: the north-west corner (a quarter of each side)
    and a square island of a seventh of each side, a little south-east of the centre.

    Returns
    -------
    numpy.ndarray of bool, shape (lat.size, lon.size)
        True on sea.
    """
    import numpy as np

    ny, nx = len(lat), len(lon)
    ocean = np.ones((ny, nx), dtype=bool)
    ocean[ny - ny // 4:, : nx // 4] = False
    side_y, side_x = max(ny // 7, 2), max(nx // 7, 2)
    y0, x0 = ny // 2 - side_y, nx // 2 + 1
    ocean[y0:y0 + side_y, x0:x0 + side_x] = False
    return ocean


def write_ocean_mask(path, lat, lon, ocean):
    """Write ``ocean`` (True on sea) as a CF ``sftof`` file (percent) on ``lat``/``lon``."""
    import numpy as np
    import xarray as xr

    xr.Dataset(
        {"sftof": (("lat", "lon"), np.where(ocean, 100.0, 0.0).astype(np.float32),
                   {"standard_name": "sea_area_fraction", "units": "%"})},
        coords={"lat": ("lat", np.asarray(lat, dtype=np.float64), {"units": "degrees_north"}),
                "lon": ("lon", np.asarray(lon, dtype=np.float64), {"units": "degrees_east"})},
    ).to_netcdf(path)
    return path


@pytest.fixture(scope="session")
def land_mask():
    """A land mask over an open ocean and its file writer: an object with the functions
    ``corner_and_island`` and ``write_ocean_mask`` (see them)."""
    from types import SimpleNamespace

    return SimpleNamespace(corner_and_island=corner_and_island,
                           write_ocean_mask=write_ocean_mask)

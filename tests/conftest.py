"""Shared fixtures: the IOOS compliance checker's CF checks."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest


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

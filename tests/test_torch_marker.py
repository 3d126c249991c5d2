"""The ``torch`` marker's rules (tests/conftest.py): with ``--no-torch-skips``, the operations
host's run (``make test-ops``), a test or module skipped for want of torch fails unless it is
marked ``torch``; other skips stay skips."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = '''
import pytest

def test_unmarked_needs_torch():
    pytest.skip("could not import 'torch': No module named 'torch'")

@pytest.mark.torch
def test_marked_needs_torch():
    pytest.skip("could not import 'torch': No module named 'torch'")

def test_needs_opendrift():
    pytest.skip("could not import 'opendrift'")

@pytest.fixture
def model():
    pytest.skip("could not import 'varnet.training.model': No module named 'torch'")

def test_fixture_needs_torch(model):
    pass

def test_runs():
    pass
'''
MODULE = '''
import pytest
pytest.importorskip("torch_absent", reason="needs torch")
def test_never_collected():
    pass
'''


#: A module of TORCH_MODULES: it cannot even be imported without torch.
TORCH_MODULE = '''
import torch_of_this_test

def test_never_run():
    pass
'''


def make_inner(pytester: pytest.Pytester, torch: bool) -> pytest.Pytester:
    """A test folder with this suite's conftest, as if torch were installed or not; a module of
    tests that skip, a module skipped whole at import for want of torch, and a torch module."""
    conftest = (Path(__file__).parent / "conftest.py").read_text()
    pytester.makeconftest(f"{conftest}\n\ndef torch_installed() -> bool:\n    return {torch}\n")
    pytester.makeini("[pytest]\nmarkers =\n    torch: needs torch\n")
    pytester.makepyfile(test_skips=TESTS, test_module_skip=MODULE, test_export=TORCH_MODULE)
    return pytester


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """The test folder as if torch were installed."""
    return make_inner(pytester, torch=True)


def test_without_the_option_every_skip_is_a_skip(inner):
    result = inner.runpytest("-p", "no:cacheprovider", "test_skips.py", "test_module_skip.py")
    result.assert_outcomes(passed=1, skipped=5)


def test_the_option_fails_torch_skips_of_tests_not_marked_torch(inner):
    result = inner.runpytest("-p", "no:cacheprovider", "--no-torch-skips", "-rfEs",
                             "test_skips.py")
    result.assert_outcomes(passed=1, skipped=2, failed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*--no-torch-skips: skipped for want of torch*not marked `torch`*"])
    failing = {line.split()[1] for line in result.outlines
               if line.startswith(("FAILED ", "ERROR "))}
    assert failing == {"test_skips.py::test_unmarked_needs_torch",
                       "test_skips.py::test_fixture_needs_torch"}


def test_the_option_fails_a_module_skipped_whole_for_want_of_torch(inner):
    result = inner.runpytest("-p", "no:cacheprovider", "--no-torch-skips",
                             "test_module_skip.py")
    assert result.ret != 0
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["ERROR test_module_skip.py - --no-torch-skips: skipped for "
                                 "want of torch*"])


def test_without_torch_its_tests_are_deselected_and_its_modules_not_collected(pytester):
    inner = make_inner(pytester, torch=False)
    result = inner.runpytest("-p", "no:cacheprovider", "--no-torch-skips",
                             "--ignore=test_module_skip.py")  # test_export.py is not imported
    result.assert_outcomes(passed=1, skipped=1, failed=1, errors=1, deselected=1)
    result.stdout.fnmatch_lines(["torch: not installed; tests marked torch deselected*"])
    assert "test_marked_needs_torch" not in result.stdout.str()

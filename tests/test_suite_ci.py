"""The suite's own rules. The slow files it starts first exist. In CI a skip fails the run,
wherever the skip comes from, also when reported by a pytest-xdist worker (checked on a small
suite run as scripts/test runs it; without CI a skip is pytest's ordinary skip)."""

from __future__ import annotations

from pathlib import Path

import pytest
from slow_first import SLOW_FIRST

pytest_plugins = ["pytester"]

SUITE = """
import pytest

def test_skips_in_the_body():
    pytest.skip("tool missing")

@pytest.mark.skipif(True, reason="tool missing (marker)")
def test_skipped_by_a_marker():
    pass

@pytest.mark.xfail(reason="a known bug is not a skip")
def test_expected_failure():
    assert False

def test_passes():
    pass
"""


def test_in_ci_a_skip_fails_the_run_from_the_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_small=SUITE)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    monkeypatch.setenv("CI", "1")
    # Only the plugins at stake: loading every installed one (schemathesis ...) takes seconds.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess(
        "-p", "xdist.plugin", "-p", "no_skip_in_ci", "-p", "no:cacheprovider", "-n", "1", "-rA"
    )
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    out = str(result.stdout)
    assert "FAILED test_small.py::test_skips_in_the_body - skipped in CI" in out
    assert "ERROR test_small.py::test_skipped_by_a_marker - skipped in CI" in out
    assert "XFAIL test_small.py::test_expected_failure" in out
    assert "PASSED test_small.py::test_passes" in out
    assert "[gw0] linux" in out  # the failures were reported by a worker


def test_the_slow_files_started_first_exist() -> None:
    root = Path(__file__).parent.parent
    assert [p for p in SLOW_FIRST if not (root / p).is_file()] == []

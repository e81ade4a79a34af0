"""The ``bsprof`` pytest fixture, run by pytest itself (pytester) on a test file a user writes."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
MNIST = str(ROOT / "examples" / "mnist_mlp.py")
BROKEN = str(ROOT / "tests" / "models" / "forward_raises.py")


def test_the_plugin_is_registered_for_pytest() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("bsprof") == "bsprof.pytest_plugin"


@pytest.mark.slow
def test_a_model_that_fits_passes_and_one_that_does_not_fails_with_the_table(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_memory=f"""
        MODEL = {MNIST!r}

        def test_fits_a_small_card(bsprof):
            bsprof.assert_fits(MODEL, batch_size=64, memory="4GiB")

        def test_does_not_fit_a_tiny_card(bsprof):
            bsprof.assert_fits(MODEL, batch_size=64, memory="256MiB")

        def test_peak_below(bsprof):
            bsprof.assert_peak_below(MODEL, "64MiB", batch_size=64)

        def test_peak_not_below(bsprof):
            bsprof.assert_peak_below(MODEL, "1MiB", batch_size=64)

        def test_a_broken_model(bsprof):
            bsprof.assert_fits({BROKEN!r}, batch_size=4)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=600)
    result.assert_outcomes(passed=2, failed=3)
    out = result.stdout.str()
    assert "bsprof: batch 64 does not fit: predicted out of memory: needs" in out
    assert "bsprof: batch 64: peak memory" in out and "is not below 1.0 MiB" in out
    # the breakdown table comes with the failure
    assert "mnist_mlp.py" in out and "Breakdown at batch 64" in out
    # a broken model file is one line naming it, not bsprof's traceback
    assert f"bsprof: {BROKEN}" in out and "sweeper.py" not in out


@pytest.mark.slow
def test_measure_runs_a_real_trial_under_the_cap(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_measured=f"""
        def test_fits_measured(bsprof):
            result = bsprof.assert_fits({MNIST!r}, batch_size=8, memory="1GiB", measure=True)
            record = result.by_batch_size()[8]
            assert record.timing is not None and record.peak_memory_bytes > 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=600)
    result.assert_outcomes(passed=1)

"""The ``bsprof`` pytest fixture: memory checks written as tests.

    def test_fits_a_24gb_card(bsprof):
        bsprof.assert_fits("models/gpt.py", batch_size=64, memory="24GiB")

    def test_peak_stays_low(bsprof):
        bsprof.assert_peak_below("models/gpt.py", "6GiB", batch_size=32)

By default the checks predict on fake tensors (deterministic, seconds, no GPU); ``measure=True``
runs a real trial instead, in a fresh worker process under the memory limit (on CPU its peak is
resident-memory growth, too coarse for models of a few MiB). A failed check
shows bsprof's table for that batch size. Loaded through the ``pytest11`` entry point; loading
it imports neither torch nor the rest of bsprof until a check runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from bsprof.api import ModelSource, Size
    from bsprof.records import TrialRecord
    from bsprof.result import SweepResult

DEFAULT_MEMORY = "24GiB"
_REPORT_WIDTH = 100


@dataclass(frozen=True)
class MemoryChecks:
    """What the ``bsprof`` fixture gives a test."""

    device: str = "auto"  # for measured checks (``measure=True``)

    def assert_fits(
        self,
        model: ModelSource | object,
        batch_size: int = 64,
        memory: Size | None = None,
        gpu: str | None = None,
        *,
        measure: bool = False,
    ) -> SweepResult:
        """Fail unless one training iteration at ``batch_size`` fits in ``memory`` (default
        24GiB, or the memory of ``gpu``): predicted through bsprof's allocator model for the
        device, or measured under that cap with ``measure=True``."""
        if memory is None and gpu is None:
            memory = DEFAULT_MEMORY
        result = self._run(model, batch_size, memory, gpu, measure)
        record = _record(result, batch_size)
        if not record.fits:
            why = record.error or record.status.value
            _fail(f"batch {batch_size} does not fit: {why}", result)
        return result

    def assert_peak_below(
        self,
        model: ModelSource | object,
        limit: Size,
        batch_size: int = 64,
        gpu: str | None = None,
        *,
        measure: bool = False,
    ) -> SweepResult:
        """Fail unless the peak memory of one training iteration at ``batch_size`` is below
        ``limit``: the predicted device memory (with ``gpu``), the predicted live tensors'
        peak (without), or the measured peak with ``measure=True``."""
        from bsprof.api import _bytes
        from bsprof.errors import BsprofError
        from bsprof.units import format_bytes

        try:
            limit_bytes = _bytes(limit, "limit")
        except BsprofError as exc:
            _fail_plainly(str(exc))
        result = self._run(model, batch_size, None, gpu, measure)
        record = _record(result, batch_size)
        peak = record.peak_or_predicted_bytes
        if peak is None:
            _fail(
                f"batch {batch_size}: no peak memory ({record.error or record.status.value})",
                result,
            )
        elif peak >= limit_bytes:
            _fail(
                f"batch {batch_size}: peak memory {format_bytes(peak)} is not below "
                f"{format_bytes(limit_bytes)}",
                result,
            )
        return result

    def _run(
        self,
        model: ModelSource | object,
        batch_size: int,
        memory: Size | None,
        gpu: str | None,
        measure: bool,
    ) -> SweepResult:
        from bsprof.api import predict, sweep
        from bsprof.errors import BsprofError

        try:
            if not measure:
                return predict(model, batch_sizes=[batch_size], gpu=gpu, device_memory=memory)
            if gpu is not None:
                _fail_plainly("gpu= names a device to predict for; measure=True runs here")
            if not isinstance(model, (str, os.PathLike)):
                _fail_plainly(
                    "measure=True runs the model in a fresh worker process: give a model "
                    "file's path or a module name, not an object"
                )
            return sweep(model, batch_sizes=[batch_size], device=self.device, memory_limit=memory)
        except BsprofError as exc:  # a broken model file or a bad argument: one line, no trace
            _fail_plainly(str(exc))


def _record(result: SweepResult, batch_size: int) -> TrialRecord:
    return result.by_batch_size()[batch_size]


def _fail_plainly(message: str) -> NoReturn:
    pytest.fail(f"bsprof: {message}", pytrace=False)


def _fail(message: str, result: SweepResult) -> None:
    pytest.fail(f"bsprof: {message}\n\n{_report_text(result)}", pytrace=False)


def _report_text(result: SweepResult) -> str:
    from bsprof.report.notebook import report_text

    return report_text(result, _REPORT_WIDTH)


@pytest.fixture
def bsprof() -> Iterator[MemoryChecks]:
    """Memory checks for a model: ``assert_fits`` and ``assert_peak_below``."""
    yield MemoryChecks()

"""Numbers derived from a sweep, shared by every reporter. Pure: no torch, no rich.

The reporters only format; anything computed from the records (the fastest batch, where
throughput stops improving, training time) is computed here, once, so that the terminal table,
the CSV and the Markdown can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bsprof.errors import UsageError
from bsprof.records import TrialStatus
from bsprof.training_time import EstimateSpec, TrainingEstimate, estimate

if TYPE_CHECKING:
    from bsprof.config import SweepConfig
    from bsprof.result import SweepResult

DEFAULT_PLATEAU_TOLERANCE = 0.05


@dataclass(frozen=True)
class SweepSummary:
    """The headline answers of a sweep; ``None`` where the sweep cannot answer."""

    largest_fitting_batch: int | None
    first_oom_batch: int | None  # smallest batch size that ran out of memory
    first_predicted_oom_batch: int | None  # smallest size skipped as predicted not to fit
    fastest_batch: int | None  # highest throughput; the smaller batch on a tie
    fastest_throughput: float | None
    plateau_batch: int | None  # smallest batch within the tolerance of the best throughput
    noisy_batches: tuple[int, ...]  # successful batch sizes whose timing is noisy
    plateau_tolerance: float = DEFAULT_PLATEAU_TOLERANCE
    bounded: bool = False  # a larger size is known not to fit (SweepResult's definition)


def _timed(result: SweepResult) -> list[tuple[int, float]]:
    """(batch size, throughput) of the successful trials that have one, by batch size."""
    pairs = []
    for record in result.results:
        rate = record.throughput_samples_per_s
        if record.fits and rate is not None:
            pairs.append((record.batch_size, rate))
    return sorted(pairs)


def summarize(
    result: SweepResult, plateau_tolerance: float = DEFAULT_PLATEAU_TOLERANCE
) -> SweepSummary:
    """The headline numbers of ``result``.

    The plateau is the smallest batch whose throughput is at least ``(1 - plateau_tolerance)``
    of the best: beyond it a bigger batch costs memory (and often accuracy) for little speed.
    """
    if not 0 <= plateau_tolerance < 1:
        raise ValueError(f"plateau_tolerance must be in [0, 1), got {plateau_tolerance!r}")
    timed = _timed(result)
    fastest: tuple[int, float] | None = None
    for batch, rate in timed:  # ascending, and strict '>' keeps the smaller batch on a tie
        if fastest is None or rate > fastest[1]:
            fastest = (batch, rate)
    plateau = None
    if fastest is not None:
        threshold = (1 - plateau_tolerance) * fastest[1]
        plateau = next(batch for batch, rate in timed if rate >= threshold)
    ooms = [r.batch_size for r in result.results if r.status is TrialStatus.OOM]
    predicted_ooms = [r.batch_size for r in result.results if r.predicted_not_to_fit]
    noisy = sorted(
        r.batch_size for r in result.results if r.fits and r.timing and r.timing.is_noisy
    )
    return SweepSummary(
        largest_fitting_batch=result.largest_fitting_batch,
        first_oom_batch=min(ooms) if ooms else None,
        first_predicted_oom_batch=min(predicted_ooms) if predicted_ooms else None,
        fastest_batch=None if fastest is None else fastest[0],
        fastest_throughput=None if fastest is None else fastest[1],
        plateau_batch=plateau,
        noisy_batches=tuple(noisy),
        plateau_tolerance=plateau_tolerance,
        bounded=result.largest_fitting_batch_bounded,
    )


def training_estimate(
    config: SweepConfig, batch_size: int, time_per_iter_s: float
) -> TrainingEstimate | None:
    """The estimate formula for one batch size under a sweep's dataset, epochs, drop_last and
    world size; None when the sweep had no dataset and epochs, or they admit no estimate."""
    if config.dataset_size is None or config.epochs is None:
        return None
    try:
        spec = EstimateSpec(
            dataset_size=config.dataset_size,
            batch_size=batch_size,
            epochs=config.epochs,
            drop_last=config.drop_last,
            world_size=config.world_size,
            time_per_iter_s=time_per_iter_s,
        )
    except UsageError:  # e.g. drop_last with a batch larger than the dataset: no estimate
        return None
    return estimate(spec)


def training_estimates(result: SweepResult) -> dict[int, TrainingEstimate]:
    """Training time per successful batch size, when the sweep was given a dataset and epochs.

    Empty when ``config`` lacks an integer ``dataset_size`` or ``epochs``.
    """
    estimates: dict[int, TrainingEstimate] = {}
    for record in sorted(result.results, key=lambda r: r.batch_size):
        if not record.fits or record.timing is None:
            continue
        row = training_estimate(result.config, record.batch_size, record.timing.median)
        if row is not None:
            estimates[record.batch_size] = row
    return estimates


def scaling_efficiency(result: SweepResult, single: SweepResult) -> dict[int, float]:
    """Global throughput over world size x the single-process throughput at the same
    per-device batch: 1.0 is perfect data-parallel scaling."""
    world = result.config.world_size
    alone = {
        r.batch_size: r.throughput_samples_per_s
        for r in single.results
        if r.fits and r.throughput_samples_per_s and r.world_size == 1
    }
    efficiency = {}
    for record in result.results:
        base = alone.get(record.batch_size)
        rate = record.throughput_samples_per_s
        if record.fits and base and rate:
            efficiency[record.batch_size] = rate / (world * base)
    return efficiency

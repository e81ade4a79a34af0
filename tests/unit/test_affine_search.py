"""The predicted search for a target: two fake trials give memory's line in batch size, two
more check the boundary; where memory is not affine the search still ends on a checked
boundary. Tested against deterministic memory functions, with the brute-force answer."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from bsprof.affine_search import affine_search
from bsprof.records import TrialRecord, TrialStatus
from tests.conftest import prediction

MiB = 2**20
CAPACITY = 80 * 1024 * MiB


class FakePredictor:
    """A prediction per batch size from ``memory(batch)``; OOM above the capacity."""

    def __init__(self, memory: Callable[[int], int], error_at: int | None = None) -> None:
        self.memory = memory
        self.error_at = error_at
        self.tried: list[int] = []

    def __call__(self, batch: int) -> TrialRecord:
        self.tried.append(batch)
        if batch == self.error_at:
            return TrialRecord(batch, TrialStatus.ERROR, error="the model raised")
        needed = self.memory(batch)
        status = TrialStatus.OK if needed <= CAPACITY else TrialStatus.OOM
        return TrialRecord(batch, status, prediction=prediction(needed, device=needed))


def largest_by_brute_force(memory: Callable[[int], int]) -> int:
    batch = 0
    while memory(batch + 1) <= CAPACITY:
        batch += 1
    return batch


def answer(records: tuple[TrialRecord, ...]) -> int | None:
    fits = [r.batch_size for r in records if r.fits]
    return max(fits) if fits else None


def test_affine_memory_takes_four_fake_trials() -> None:
    def memory(batch: int) -> int:
        return 16 * 1024 * MiB + batch * 700 * MiB  # weights and state, then activations

    predict = FakePredictor(memory)
    outcome = affine_search(1, 2**24, predict, CAPACITY)
    assert answer(outcome.records) == largest_by_brute_force(memory) == 93
    assert predict.tried == [1, 2, 93, 94]
    assert outcome.confirmation == (
        "Found from memory's line in batch size (4 fake trials) and checked: batch 93 fits the "
        "target, batch 94 does not."
    )


@pytest.mark.parametrize(
    "memory",
    [
        # the activations' growth steps up at batch 64 (a kernel that switches with size)
        lambda b: 10 * 1024 * MiB + b * 300 * MiB + (b >= 64) * b * 400 * MiB,
        # allocation rounding: each batch's memory rounded up to 2 GiB blocks
        lambda b: -(-(5 * 1024 * MiB + b * 333 * MiB) // (2048 * MiB)) * 2048 * MiB,
        # a quadratic term (attention scores at a fixed length are linear; this is not)
        lambda b: 1024 * MiB + b * b * 20 * MiB,
    ],
    ids=["step", "rounded", "quadratic"],
)
def test_memory_that_is_not_affine_still_ends_on_a_checked_boundary(
    memory: Callable[[int], int],
) -> None:
    predict = FakePredictor(memory)
    outcome = affine_search(1, 2**24, predict, CAPACITY)
    largest = largest_by_brute_force(memory)
    assert answer(outcome.records) == largest
    assert {largest, largest + 1} <= set(predict.tried)  # both sides were predicted
    # never worse than a doubling ladder and a bisection, plus the line's guesses
    assert len(predict.tried) <= 2 * math.log2(largest) + 6


def test_nothing_fits_at_the_smallest_batch() -> None:
    predict = FakePredictor(lambda b: CAPACITY + b)
    outcome = affine_search(1, 2**24, predict, CAPACITY)
    assert predict.tried == [1] and answer(outcome.records) is None


def test_everything_up_to_the_maximum_fits() -> None:
    predict = FakePredictor(lambda b: b * MiB)
    outcome = affine_search(1, 64, predict, CAPACITY)
    assert answer(outcome.records) == 64 and outcome.confirmation is None


def test_an_error_at_a_size_stops_the_search_there() -> None:
    predict = FakePredictor(lambda b: 1024 * MiB + b * 700 * MiB, error_at=2)
    outcome = affine_search(1, 2**24, predict, CAPACITY)
    assert predict.tried == [1, 2]
    assert [r.status for r in outcome.records] == [TrialStatus.OK, TrialStatus.ERROR]

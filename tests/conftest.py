"""Shared test helpers: record builders with exact, hand-made values, tiny in-process models,
and the golden-file fixture. Import the builders as ``from tests.conftest import ...``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bsprof.config import SweepConfig, config_from_dict
from bsprof.environment import Environment
from bsprof.records import PredictionRecord, TimingStats, TrialRecord, TrialStatus
from bsprof.result import SweepResult
from bsprof.workload import Workload

GOLDEN = Path(__file__).resolve().parent / "golden"


# ---- records ------------------------------------------------------------------------------


def prediction(
    peak: int,
    flops: int = 4 * 10**9,
    device: int | None = None,
    incomplete: tuple[str, ...] = (),
    verified: bool | None = None,
) -> PredictionRecord:
    """A prediction whose peak splits into quarters: parameters, gradients, state, activations."""
    return PredictionRecord(
        predicted_peak_bytes=peak,
        rounded_peak_bytes=peak,
        parameters=peak // 4,
        gradients=peak // 4,
        optimizer_state=peak // 4,
        inputs=0,
        activations=peak - 3 * (peak // 4),
        peak_phase="backward",
        flops_per_iter=flops,
        predicted_device_bytes=device,
        flops_incomplete=incomplete,
        verified=verified,
    )


def ok_trial(
    batch: int,
    samples: Sequence[float],
    peak: int | None = None,
    reserved: int | None = None,
    prediction: PredictionRecord | None = None,
) -> TrialRecord:
    """A batch size that fit, timed at ``samples`` seconds per iteration."""
    return TrialRecord(
        batch,
        TrialStatus.OK,
        timing=TimingStats(tuple(samples)),
        peak_memory_bytes=peak,
        reserved_bytes=reserved,
        prediction=prediction,
    )


def sweep_result(
    *records: TrialRecord,
    environment: Mapping[str, Any] | Environment | None = None,
    config: Mapping[str, Any] | SweepConfig | None = None,
    **fields: Any,
) -> SweepResult:
    """A sweep of ``records`` (in any order); ``environment`` and ``config`` as the JSON has
    them (or typed); ``fields`` are SweepResult's other fields."""
    if not isinstance(environment, Environment):
        environment = Environment.from_dict(environment or {})
    if not isinstance(config, SweepConfig):
        config = config_from_dict(config or {})
    return SweepResult(environment=environment, config=config, results=records, **fields)


# ---- tiny models --------------------------------------------------------------------------


def classification_batch(
    features: int, classes: int, dtype: torch.dtype = torch.float32
) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """``make_batch``: random inputs of ``features`` values, labels among ``classes``."""

    def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.randn(batch_size, features, dtype=dtype),
            torch.randint(0, classes, (batch_size,)),
        )

    return make_batch


def tiny_mlp(features: int = 64, hidden: int = 128, classes: int = 10) -> nn.Module:
    """Linear, ReLU, Linear: a classifier small enough to run for real in every test."""
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def tiny_workload(
    *,
    features: int = 4,
    classes: int = 3,
    dtype: torch.dtype = torch.float32,
    source: str = "model.py",
    **overrides: Any,
) -> Workload:
    """A model file's callables, in process: by default a Linear classifier of ``features``
    inputs into ``classes``; ``overrides`` replace any of Workload's fields (build_model,
    make_batch, loss_fn, training_step, ...)."""
    values: dict[str, Any] = {
        "source": source,
        "build_model": lambda: nn.Linear(features, classes),
        "make_batch": classification_batch(features, classes, dtype),
    }
    values.update(overrides)
    return Workload(**values)


# ---- golden files -------------------------------------------------------------------------


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME; BSPROF_UPDATE_GOLDEN=1 rewrites the file instead
    (then read the diff before committing it)."""

    def compare(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("BSPROF_UPDATE_GOLDEN") == "1":
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"{path} is missing: run with BSPROF_UPDATE_GOLDEN=1 to create it"
        assert text == path.read_text(encoding="utf-8")

    return compare

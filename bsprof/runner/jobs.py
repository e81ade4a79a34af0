"""What the parent asks a worker to do, and what the worker says back. No torch here.

The parent sends one job (a ``Job``) to a fresh child. The child sends, over a pipe, any number
of ``Progress``, ``PredictedRecord`` and ``MeasuredRecord`` messages, then exactly one ``Final``
message: the job's outcome. The parent stamps the outcome with the job's wall time, or, when
the child died or timed out before saying anything final, makes it a ``Crashed`` itself. An
outcome is one of these classes; code tells them apart with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bsprof.config import SweepConfig
from bsprof.device import Device
from bsprof.neighbour import Neighbour

# --- jobs: parent -> child ----------------------------------------------------------------


@dataclass(frozen=True)
class ProbeJob:
    """Resolve the device, load the model file once, describe the environment."""

    config: SweepConfig
    host_limit_bytes: int | None = None  # address-space cap before the user's code (CPU)


@dataclass(frozen=True)
class TrialJob:
    config: SweepConfig
    batch_size: int
    device: Device  # resolved: cpu, cuda or cuda:N
    memory_limit_bytes: int | None
    host_limit_bytes: int | None = None  # the guard while the model file is imported (CPU)
    neighbour: Neighbour | None = None  # stopped while warming up and timing (bsprof.neighbour)


@dataclass(frozen=True)
class SeriesJob:
    """Several batch sizes in one worker, ascending: the model file is imported once and each
    size after the first reuses the worker (bsprof.runner.series has the rules). Each record is
    streamed as a ``MeasuredRecord``; the run stops at the first record that is not OK, and
    before a size whose peak the last two records extrapolate above ``stop_above_bytes``."""

    config: SweepConfig
    batch_sizes: tuple[int, ...]
    device: Device  # resolved: cpu, cuda or cuda:N
    memory_limit_bytes: int | None
    host_limit_bytes: int | None = None  # the guard while the model file is imported (CPU)
    stop_above_bytes: int | None = None  # None: only a failure ends the series early
    neighbour: Neighbour | None = None  # stopped while warming up and timing (bsprof.neighbour)


@dataclass(frozen=True)
class PredictJob:
    """Predict on fake tensors: a whole search (``sizes`` empty) or just the given sizes."""

    config: SweepConfig
    sizes: tuple[int, ...] = ()
    cuda_kernels: bool = False  # predict what a CUDA run allocates (e.g. foreach optimizers)
    stop_above_bytes: int | None = None  # with sizes: stop after the first prediction above
    host_limit_bytes: int | None = None  # address-space cap before the user's code runs
    background: bool = False  # beside measured trials: lowest CPU priority, one thread


@dataclass(frozen=True)
class EnvJob:
    """Describe the environment (``bsprof env``)."""

    device: Device


Job = ProbeJob | TrialJob | SeriesJob | EnvJob | PredictJob

ProgressCallback = Callable[[str, int, int], None]  # phase, done, total
RecordCallback = Callable[[dict[str, Any]], None]  # a predicted or measured TrialRecord's dict
# How long the job's worker has been held stopped so far (bsprof.neighbour): not counted
# against its timeout
HeldSeconds = Callable[[], float]

# --- along the way: child -> parent -------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where the job is: a trial's ``phase`` and ``done`` of ``total`` iterations; for a
    prediction, ``done`` is the batch size being predicted (``total`` 0); in a series, phase
    ``SERIES_NEXT`` names (in ``done``) the batch size starting now; a prediction beside the
    trials first sends phase ``BESIDE_STARTED`` with its pid in ``done`` (bsprof.neighbour)."""

    phase: str
    done: int
    total: int


SERIES_NEXT = "next batch size"
BESIDE_STARTED = "predicting beside the trials"


@dataclass(frozen=True)
class PredictedRecord:
    """One predicted batch size (a TrialRecord's dict), sent as soon as it is known, so the
    parent keeps it if the run is interrupted."""

    record: dict[str, Any]


@dataclass(frozen=True)
class MeasuredRecord:
    """One batch size measured in a series (a TrialRecord's dict), sent as soon as it is
    known: if the worker dies at a later size, the parent keeps the sizes before it."""

    record: dict[str, Any]


# --- the outcome: child -> parent once, or made by the parent --------------------------------
# ``wall_s`` is the job's wall time, from the parent's clock: the child sends 0.0 and the
# parent replaces it.


@dataclass(frozen=True)
class Succeeded:
    """The job ran; ``payload`` is its result (a dict whose keys depend on the job)."""

    payload: dict[str, Any]
    wall_s: float = 0.0


@dataclass(frozen=True)
class ModelFailed:
    """The model file is broken (bsprof.errors.ModelFileError): the user's to fix."""

    message: str
    wall_s: float = 0.0

    @property
    def failure(self) -> str:
        return self.message


@dataclass(frozen=True)
class Unsupported:
    """The model cannot run on fake tensors (only a PredictJob says this)."""

    message: str
    wall_s: float = 0.0

    @property
    def failure(self) -> str:
        return self.message


@dataclass(frozen=True)
class InternalError:
    """A bug in bsprof: the worker's traceback."""

    traceback: str
    wall_s: float = 0.0

    @property
    def failure(self) -> str:
        """The traceback's last line, in one line."""
        return "bsprof's worker failed (a bug): " + self.traceback.strip().splitlines()[-1]


@dataclass(frozen=True)
class Crashed:
    """The worker died or timed out before saying anything final (made by the parent)."""

    reason: str
    wall_s: float = 0.0

    @property
    def failure(self) -> str:
        return self.reason


def deliver(
    message: object, on_progress: ProgressCallback | None, on_record: RecordCallback | None
) -> bool:
    """Hand a message sent along the way to its callback; False for any other message."""
    if isinstance(message, Progress):
        if on_progress is not None:
            on_progress(message.phase, message.done, message.total)
        return True
    if isinstance(message, (PredictedRecord, MeasuredRecord)):
        if on_record is not None:
            on_record(message.record)
        return True
    return False


class Sender(Protocol):
    """Where a job's messages go: the pipe to the parent, or (in-process) the callbacks."""

    def send(self, message: ToParent) -> None: ...


class JobRunner(Protocol):
    """Runs a job to its outcome: a worker process (bsprof.runner.pool.WorkerPool), or this
    process (bsprof.runner.inprocess.InProcessRunner). ``held_s``: the time the worker spent
    stopped by others, which its timeout does not count."""

    def run(
        self,
        job: Job,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
        on_record: RecordCallback | None = None,
        held_s: HeldSeconds | None = None,
    ) -> JobOutcome: ...


Final = Succeeded | ModelFailed | Unsupported | InternalError  # what a child may send last
ToParent = Progress | PredictedRecord | MeasuredRecord | Final  # every message a child sends
Failure = ModelFailed | Unsupported | InternalError | Crashed  # each has ``failure``: one line
JobOutcome = Succeeded | Failure
FINAL_TYPES = (Succeeded, ModelFailed, Unsupported, InternalError)

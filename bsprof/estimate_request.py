"""``bsprof estimate``'s request: batch sizes and times from the options or from a sweep JSON,
resolved into one TrainingEstimate row each (bsprof.training_time has the formulas)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bsprof.errors import ConfigError, UsageError
from bsprof.result import read_sweep
from bsprof.training_time import EstimateReport, EstimateSpec, estimate


@dataclass(frozen=True)
class EstimateRequest:
    """The ``bsprof estimate`` command's inputs, before batch sizes and times are resolved."""

    dataset_size: int
    epochs: int
    batch_sizes: tuple[int, ...] = ()
    times_per_iter_s: tuple[float, ...] = ()
    drop_last: bool = False
    grad_accum: int = 1
    world_size: int | None = None
    base_lr: float | None = None
    base_batch: int | None = None
    sweep_path: str | None = None

    def __post_init__(self) -> None:
        """What a request must hold before any sweep file is read."""
        counts = {"dataset_size": self.dataset_size, "epochs": self.epochs}
        counts["grad_accum"] = self.grad_accum
        if self.world_size is not None:
            counts["world_size"] = self.world_size
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError("{" + name + "} must be a positive integer, got {value!r}",
                                  value=value)  # fmt: skip


def run_estimate(request: EstimateRequest) -> EstimateReport:
    """Resolve batch sizes and times (from options or a sweep JSON) and estimate each."""
    if request.sweep_path is not None:
        if request.times_per_iter_s:
            raise ConfigError("give either {times_per_iter} or {from_sweep}, not both")
        return _estimate_from_sweep(request)
    if not request.batch_sizes:
        raise ConfigError(
            "give at least one batch size ({batch_sizes}), or {from_sweep}: a sweep JSON"
        )
    times = _pair_times(request.batch_sizes, request.times_per_iter_s)
    rows = tuple(
        estimate(_spec(request, batch, time, request.world_size or 1))
        for batch, time in zip(request.batch_sizes, times, strict=True)
    )
    source = "--time-per-iter" if request.times_per_iter_s else None
    return EstimateReport(rows=rows, source=source)


def _pair_times(batch_sizes: tuple[int, ...], times: tuple[float, ...]) -> list[float | None]:
    if not times:
        return [None] * len(batch_sizes)
    if len(times) == 1:
        return [times[0]] * len(batch_sizes)
    if len(times) != len(batch_sizes):
        raise ConfigError(
            "got {times} {times_per_iter} values for {sizes} batch sizes: give one time for "
            "all, or one per batch size in the same order",
            times=len(times),
            sizes=len(batch_sizes),
        )
    return list(times)


def _spec(request: EstimateRequest, batch: int, time: float | None, world: int) -> EstimateSpec:
    return EstimateSpec(
        dataset_size=request.dataset_size,
        batch_size=batch,
        epochs=request.epochs,
        drop_last=request.drop_last,
        grad_accum=request.grad_accum,
        world_size=world,
        time_per_iter_s=time,
        base_lr=request.base_lr,
        base_batch=request.base_batch,
    )


def _estimate_from_sweep(request: EstimateRequest) -> EstimateReport:

    assert request.sweep_path is not None
    sweep = read_sweep(Path(request.sweep_path))
    if sweep.is_seq_len_grid:
        lengths = ", ".join(str(length) for length in sweep.seq_lens)
        raise UsageError(
            f"{request.sweep_path}: a sweep over sequence lengths {lengths}: a time per "
            "iteration belongs to one length; sweep one --seq-len to estimate from it"
        )
    measured = {
        r.batch_size: r.timing.median for r in sweep.results if r.fits and r.timing is not None
    }
    if not measured:
        raise UsageError(f"{request.sweep_path}: no batch size ran successfully in this sweep")
    wanted = request.batch_sizes or tuple(sorted(measured))
    missing = [b for b in wanted if b not in measured]
    if missing:
        raise UsageError(
            f"{request.sweep_path} has no successful measurement for batch size "
            f"{', '.join(map(str, missing))} (measured: {', '.join(map(str, sorted(measured)))})"
        )
    swept_world = sweep.config.world_size
    world = request.world_size or swept_world
    notes = []
    if world != swept_world:
        notes.append(
            f"the sweep ran with world size {swept_world}; estimating for {world} assumes the "
            "per-device time per iteration does not change"
        )
    rows = tuple(estimate(_spec(request, b, measured[b], world)) for b in wanted)
    source = f"{request.sweep_path} (median time per iteration measured on {sweep.ran_on})"
    return EstimateReport(rows=rows, notes=tuple(notes), source=source)

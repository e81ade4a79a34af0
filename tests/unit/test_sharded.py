"""FSDP predictions (``--predict --nproc N --strategy fsdp``): each device holds 1/N of the
parameters, gradients and optimizer state (dim 0 padded as FSDP2 pads it), plus the blocks it
has all-gathered; the fake process group never outlives a prediction."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.distributed as dist

from bsprof.config import SweepConfig
from bsprof.model_setup import Strategy
from bsprof.prediction import PredictionUnsupported, predict_iteration
from bsprof.prediction.iteration import IterationTrace, trace_fake_iteration
from bsprof.prediction.sharded import fake_collectives_available, fake_process_group
from bsprof.prediction.tracker import LiveStorageTracker
from bsprof.records import PredictionRecord
from bsprof.workload import load_workload
from tests.reference import load_model_file

pytest.importorskip("transformers")
FAKE_COLLECTIVES = fake_collectives_available()
# every test here runs FSDP2 under the fake process group (test_fsdp_refusal.py: a torch without)
pytestmark = pytest.mark.skipif(
    not FAKE_COLLECTIVES, reason="this torch has no fake kernels for collectives (2.6); 2.13 has"
)

ROOT = Path(__file__).resolve().parents[2]
LLAMA = str(ROOT / "tests" / "models" / "fsdp_llama.py")  # vocabulary 1001: padded shards
MLP = str(ROOT / "examples" / "mnist_mlp.py")


class _GradientsAtStep(LiveStorageTracker):  # type: ignore[no-untyped-call]
    """Remembers the gradient bytes live when the optimizer step starts: all of them."""

    seen: ClassVar[list[_GradientsAtStep]] = []

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.at_step = 0
        _GradientsAtStep.seen.append(self)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "phase" and value == "optimizer step":
            self.at_step = self.grad_live
        super().__setattr__(name, value)


def _traced(
    monkeypatch: pytest.MonkeyPatch, config: SweepConfig, batch: int
) -> tuple[IterationTrace, int]:
    """The trace, and the gradient bytes the tracker saw at the optimizer step."""
    monkeypatch.setattr("bsprof.prediction.iteration.LiveStorageTracker", _GradientsAtStep)
    _GradientsAtStep.seen.clear()
    trace = trace_fake_iteration(load_workload(config.model), config, batch, False)
    return trace, _GradientsAtStep.seen[-1].at_step


def _shard_bytes(model: torch.nn.Module, ranks: int) -> int:
    """One rank's share of every parameter: dim 0 padded to a multiple of ``ranks``."""
    return sum(
        -(-p.shape[0] // ranks) * p[0].numel() * p.element_size() for p in model.parameters()
    )


def test_each_device_holds_a_quarter_of_parameters_gradients_and_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    model = load_model_file(LLAMA).build_model()
    full = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())  # not sharded
    steps = 4 * len(list(model.parameters()))  # AdamW's step count: a float32 scalar each
    shard = _shard_bytes(model, 4)
    assert full // 4 < shard < full // 4 + 2 * 128 * 4  # 1001 rows -> 1004: 3 padded rows x 2
    config = SweepConfig(LLAMA)
    whole, whole_grads = _traced(monkeypatch, config, 2)
    sharded, sharded_grads = _traced(
        monkeypatch, replace(config, world_size=4, strategy=Strategy.FSDP), 2
    )
    assert (whole.parameters, whole_grads, whole.optimizer_state) == (
        full + buffers,
        full,
        2 * full + steps,
    )
    assert (sharded.parameters, sharded_grads, sharded.optimizer_state) == (
        shard + buffers,
        shard,
        2 * shard + steps,
    )
    # Beyond its shards, a device holds the root's parameters (embedding, head, final norm:
    # gathered from forward to the end of backward) and one or two gathered blocks.
    layer = sum(p.numel() * p.element_size() for p in model.model.layers[0].parameters())
    root = full - 4 * layer
    assert root + layer <= sharded.gathered_at_peak <= root + 2 * layer
    assert sharded.sharded_over == 4 and sharded.peak_bytes < whole.peak_bytes
    assert sharded.flops == whole.flops  # every rank runs the whole model on its own batch


def test_the_breakdown_adds_up_to_the_peak_with_the_gathered_parameters() -> None:
    config = SweepConfig(LLAMA, world_size=2, strategy=Strategy.FSDP)
    record = predict_iteration(load_workload(LLAMA), config, 4, False)
    parts = (
        record.parameters,
        record.gradients,
        record.optimizer_state,
        record.inputs,
        record.activations,
        record.gathered,
    )
    assert sum(parts) == record.predicted_peak_bytes
    assert record.gathered > 0 and record.ddp_buckets == 0 and record.sharded_over == 2
    assert PredictionRecord.from_dict(record.to_dict()) == record


def test_a_record_written_before_fsdp_reads_as_unsharded() -> None:
    data = PredictionRecord(10, 10, 1, 2, 3, 0, 4, "backward", 0).to_dict()
    del data["sharded_over"], data["breakdown"]["gathered"]
    record = PredictionRecord.from_dict(data)
    assert (record.sharded_over, record.gathered) == (1, 0)


def test_one_rank_and_a_model_without_blocks_still_shard() -> None:
    """FSDP on one rank keeps whole parameters but adds FSDP2's buffers; a model without
    repeated blocks (an MLP in an nn.Sequential) is sharded layer by layer."""
    whole = predict_iteration(load_workload(LLAMA), SweepConfig(LLAMA), 2, False)
    one = predict_iteration(
        load_workload(LLAMA), SweepConfig(LLAMA, strategy=Strategy.FSDP), 2, False
    )
    assert one.parameters == whole.parameters and one.gathered > 0
    assert one.predicted_peak_bytes > whole.predicted_peak_bytes
    mlp = predict_iteration(
        load_workload(MLP), SweepConfig(MLP, world_size=2, strategy=Strategy.FSDP), 8, False
    )
    weights = (784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10) * 4
    assert mlp.parameters == weights // 2
    assert not dist.is_initialized()


def test_the_fake_group_is_gone_after_a_failure_and_refuses_a_real_one() -> None:
    with pytest.raises(RuntimeError, match="inside"), fake_process_group(2) as mesh:
        assert dist.get_world_size() == 2 and mesh.size() == 2
        raise RuntimeError("inside")
    assert not dist.is_initialized()
    with fake_process_group(3):
        refused = pytest.raises(PredictionUnsupported, match="already has one")
        with refused, fake_process_group(2):
            pass
        assert dist.get_world_size() == 3  # the outer group is left alone
    assert not dist.is_initialized()


def test_the_tracker_follows_storage_resizes_and_sizes_a_dtensor_by_its_shard() -> None:
    """FSDP2 frees and re-allocates an unsharded parameter with UntypedStorage.resize_, which
    no dispatch mode sees; a DTensor's own storage reports the global size."""
    from torch.distributed.tensor import Shard, distribute_tensor

    original = torch.UntypedStorage.resize_
    kept = torch.empty(1000)
    live = LiveStorageTracker()
    with live:
        kept.untyped_storage().resize_(0)  # untracked until it grows
        kept.untyped_storage().resize_(4000)
        peak_after_growth = live.live
        kept.untyped_storage().resize_(0)
    assert (peak_after_growth, live.live, live.peak_gathered) == (4000, 0, 4000)
    assert torch.UntypedStorage.resize_ is original  # put back on the way out
    with fake_process_group(4) as mesh:
        sharded = distribute_tensor(torch.zeros(10, 8), mesh, [Shard(0)])
        counting = LiveStorageTracker()
        counting.track(sharded)
        assert counting.live == 3 * 8 * 4  # rank 0's chunk: ceil(10 / 4) rows


def test_a_measured_fsdp_rank_shards_the_model_where_ddp_replicates_it() -> None:
    from torch.distributed.tensor import DTensor

    from bsprof.device import CPU
    from bsprof.runner.rank import model_wrapper

    config = SweepConfig(MLP, world_size=2, strategy=Strategy.FSDP)
    with fake_process_group(2):
        model = model_wrapper(config, CPU)(load_model_file(MLP).build_model())
        assert all(isinstance(p, DTensor) for p in model.parameters())
        ddp = model_wrapper(replace(config, strategy=Strategy.DDP), CPU)
        assert type(ddp(torch.nn.Linear(2, 2))).__name__ == "DistributedDataParallel"


def test_a_prediction_for_more_devices_than_this_machine_has_is_not_refused() -> None:
    from bsprof.device import CPU
    from bsprof.errors import ConfigError
    from bsprof.sweeper import _check_world_size

    predicted = SweepConfig(MLP, world_size=64, strategy=Strategy.FSDP, predict=True)
    _check_world_size(predicted, CPU, 0)  # no rank runs: nothing to oversubscribe
    with pytest.raises(ConfigError, match="one per rank"):
        _check_world_size(replace(predicted, predict=False), CPU, 0)


def test_the_breakdown_line_says_per_device_and_names_the_gathered_parameters() -> None:
    from bsprof.records import TrialRecord, TrialStatus
    from bsprof.report.prediction import breakdown_line

    record = PredictionRecord(
        100, 100, 10, 5, 20, 1, 44, "backward", 0, gathered=20, sharded_over=4
    )
    line = breakdown_line(TrialRecord(8, TrialStatus.OK, prediction=record))
    assert "per device, FSDP shards over 4 ranks" in line
    assert "all-gathered parameters 20 B" in line


def test_the_largest_fitting_batch_is_said_to_be_per_device() -> None:
    from bsprof.records import TrialRecord, TrialStatus
    from bsprof.report.prediction import fits_line
    from tests.conftest import sweep_result

    records = [
        TrialRecord(8, TrialStatus.OK, prediction=PredictionRecord(1, 1, 0, 0, 0, 0, 1, "x", 0)),
        TrialRecord(16, TrialStatus.OOM, prediction=PredictionRecord(9, 9, 0, 0, 0, 0, 9, "x", 0)),
    ]
    config = SweepConfig(MLP, world_size=4, strategy=Strategy.FSDP, predict=True)
    line = fits_line(sweep_result(*records, config=config), 2**30)
    assert (
        line == "Largest batch that fits the target's 1.0 GiB per device (FSDP over 4 devices): 8"
    )


def test_fsdp_on_one_rank_is_measured_through_torchrun_as_a_rank() -> None:
    assert SweepConfig(MLP, strategy=Strategy.FSDP).distributed
    assert not SweepConfig(MLP).distributed  # DDP on one rank is the plain step
    assert SweepConfig(MLP, world_size=2).distributed

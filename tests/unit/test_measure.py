"""The training step and the timing loop, in process, on real tiny models."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch
from torch import nn

from bsprof.backends.cpu import CpuBackend
from bsprof.config import Mode, SweepConfig
from bsprof.errors import ModelFileError
from bsprof.measure import time_iterations
from bsprof.step import default_loss, make_step
from bsprof.workload import UserCodeError
from tests.conftest import tiny_workload

CPU = torch.device("cpu")


def test_a_training_step_updates_the_parameters() -> None:
    step = make_step(tiny_workload(), SweepConfig("model.py"), 8, torch.device("cpu"))
    before = [p.detach().clone() for p in step.model.parameters()]
    step()
    assert step.optimizer is not None
    assert isinstance(step.optimizer, torch.optim.AdamW)
    assert all(not torch.equal(a, b) for a, b in zip(before, step.model.parameters(), strict=True))
    assert all(p.grad is None for p in step.model.parameters())  # zero_grad(set_to_none)


def test_eval_mode_does_not_touch_the_parameters() -> None:
    step = make_step(
        tiny_workload(), SweepConfig("model.py", mode=Mode.EVAL), 8, torch.device("cpu")
    )
    before = [p.detach().clone() for p in step.model.parameters()]
    step()
    assert step.optimizer is None
    assert all(torch.equal(a, b) for a, b in zip(before, step.model.parameters(), strict=True))


def test_default_loss_picks_cross_entropy_mse_or_outputs_loss() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1])
    expected = nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(default_loss("m.py", logits, labels), expected)
    assert default_loss("m.py", logits, torch.zeros(2, 2)).item() == pytest.approx(2.0)

    @dataclass
    class Output:
        loss: torch.Tensor

    assert default_loss("m.py", Output(torch.tensor(7.0)), None).item() == 7.0
    with pytest.raises(ModelFileError, match=r"targets=None but the model.s output has no \.loss"):
        default_loss("m.py", logits, None)


def test_sequence_logits_are_flattened_for_cross_entropy() -> None:
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    expected = nn.functional.cross_entropy(logits.reshape(10, 7), labels.reshape(10))
    assert torch.allclose(default_loss("m.py", logits, labels), expected)


def test_dict_and_tuple_inputs() -> None:
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(4, 3)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.layer(a + b)
            return out

    def as_tuple(n: int) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        return (torch.randn(n, 4), torch.randn(n, 4)), torch.randint(0, 3, (n,))

    def as_dict(n: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {"a": torch.randn(n, 4), "b": torch.randn(n, 4)}, torch.randint(0, 3, (n,))

    for make_batch in (as_tuple, as_dict):
        make_step(
            tiny_workload(build_model=TwoInputs, make_batch=make_batch),
            SweepConfig("m"),
            2,
            CPU,
        )()


def test_user_exceptions_name_the_function() -> None:
    def broken_loss(outputs: Any, targets: Any) -> torch.Tensor:
        raise ValueError("nope")

    step = make_step(tiny_workload(loss_fn=broken_loss), SweepConfig("m"), 2, torch.device("cpu"))
    with pytest.raises(UserCodeError, match=r"model\.py: loss_fn raised ValueError: nope"):
        step()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"build_model": lambda: 3}, r"build_model\(\) returned int; expected a torch.nn.Module"),
        ({"make_batch": lambda n: torch.ones(n)}, r"returned Tensor; expected a pair"),
        ({"make_batch": lambda n: ("x", None)}, "inputs of type str"),
        ({"build_optimizer": lambda p: "sgd"}, r"build_optimizer\(\) returned str"),
    ],
)
def test_contract_violations(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        make_step(tiny_workload(**overrides), SweepConfig("m"), 2, torch.device("cpu"))


class FakeTimer:
    def __init__(self) -> None:
        self.count = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.count += 1

    def samples(self) -> list[float]:
        return [0.5] * self.count


class FakeBackend(CpuBackend):
    def timer(self) -> FakeTimer:  # type: ignore[override]
        return FakeTimer()


def test_timing_runs_iters_then_until_min_time() -> None:
    ticks = iter(float(t) for t in range(100))
    calls: list[int] = []
    samples = time_iterations(
        lambda: calls.append(1),
        FakeBackend(),
        SweepConfig("m", iters=3, min_time_s=5.0),
        lambda phase, done, total: None,
        clock=lambda: next(ticks),
    ).iteration_s
    # start reads 0; the clock is read only once --iters (3) is met: at 1, 2, 3, 4 s it runs
    # one more iteration each, at 5 s it stops: 3 + 4 iterations
    assert len(calls) == len(samples) == 7
    only_iters = time_iterations(
        lambda: None, FakeBackend(), SweepConfig("m", iters=3), lambda *a: None
    )
    assert len(only_iters.iteration_s) == 3
    assert only_iters.update_s == []  # a plain callable has no optimizer step to time


def test_sys_exit_in_user_code_is_the_user_s_error() -> None:
    import sys

    def exits(batch_size: int) -> Any:
        sys.exit(3)

    with pytest.raises(UserCodeError, match=r"make_batch\(2\) raised SystemExit"):
        make_step(tiny_workload(make_batch=exits), SweepConfig("m"), 2, CPU)


def test_namedtuple_inputs_keep_their_type() -> None:
    from collections import namedtuple

    from bsprof.step import to_device

    Pair = namedtuple("Pair", "a b")
    moved = to_device(Pair(torch.ones(1), torch.zeros(1)), CPU)
    assert isinstance(moved, Pair) and moved.a.item() == 1.0


def test_cuda_oom_markers_outside_the_caching_allocator() -> None:
    from bsprof.backends.cuda import CudaBackend

    backend = object.__new__(CudaBackend)  # no GPU needed to classify an exception
    assert backend.is_oom(RuntimeError("CUDA error: out of memory"))
    assert backend.is_oom(RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"))
    assert not backend.is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_outputs_are_released_before_backward() -> None:
    """As in HF Trainer and Lightning: only the loss survives into backward."""
    outputs_alive_in_backward: list[bool] = []

    def loss_fn(outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        output_ref = weakref.ref(outputs)
        loss = outputs.sum()  # sum's backward keeps nothing of its input
        loss.register_hook(  # type: ignore[no-untyped-call]
            lambda grad: outputs_alive_in_backward.append(output_ref() is not None)
        )
        return loss

    make_step(tiny_workload(loss_fn=loss_fn), SweepConfig("m"), 4, CPU)()
    assert outputs_alive_in_backward == [False]


def test_training_step_replaces_forward_and_loss() -> None:
    seen: list[tuple[int, int]] = []

    def training_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> Any:
        seen.append((inputs.shape[0], targets.shape[0]))
        out: torch.Tensor = model(inputs)
        return nn.functional.cross_entropy(out, targets) + 0.0 * out.pow(2).sum()

    step = make_step(tiny_workload(training_step=training_step), SweepConfig("m"), 4, CPU)
    step()
    assert seen == [(4, 4)]
    with pytest.raises(ModelFileError, match="training_step must return a scalar loss tensor"):
        make_step(tiny_workload(training_step=lambda m, i, t: m(i)), SweepConfig("m"), 4, CPU)()


def test_a_batch_of_the_wrong_size_names_make_batch() -> None:
    def fixed(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(32, 4), torch.randint(0, 3, (32,))

    with pytest.raises(
        ModelFileError,
        match=r"make_batch\(8\) returned inputs whose batch dimension \(dim 0\) is 32, not 8.*"
        r"set BATCH_DIM",
    ):
        make_step(tiny_workload(make_batch=fixed), SweepConfig("m"), 8, CPU)


def test_a_declared_batch_dimension_is_honoured() -> None:
    class SequenceFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.RNN(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.rnn(x)[0][-1]
            return out

    def sequence_first(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(7, batch_size, 4), torch.randint(0, 3, (batch_size,))

    workload = tiny_workload(build_model=SequenceFirst, make_batch=sequence_first)
    with pytest.raises(ModelFileError, match=r"batch dimension \(dim 0\) is 7, not 2"):
        make_step(workload, SweepConfig("m"), 2, CPU)
    make_step(replace(workload, batch_dim=1), SweepConfig("m"), 2, CPU)()


def test_the_default_mse_refuses_shapes_that_would_broadcast() -> None:
    with pytest.raises(
        ModelFileError, match=r"outputs of shape \(8, 1\) and float targets of shape"
    ):
        default_loss("m.py", torch.randn(8, 1), torch.randn(8))


def test_the_optimizer_update_is_timed_inside_each_iteration() -> None:
    from bsprof.measure import run_trial

    def slow_step(self: Any, closure: Any = None) -> None:
        import time as clock

        clock.sleep(0.1)  # an update that dominates a tiny model's iteration, even on a busy CPU

    config = SweepConfig("m", warmup=0, iters=3)
    record = run_trial(tiny_workload(), config, 4, CpuBackend(), lambda *a: None)
    assert record.update_timing is not None and record.timing is not None
    assert record.update_timing.n == record.timing.n == 3
    assert all(
        u <= t for u, t in zip(record.update_timing.samples, record.timing.samples, strict=True)
    )

    original = torch.optim.AdamW.step
    torch.optim.AdamW.step = slow_step  # type: ignore[method-assign]
    try:
        slowed = run_trial(tiny_workload(), config, 4, CpuBackend(), lambda *a: None)
    finally:
        torch.optim.AdamW.step = original  # type: ignore[method-assign]
    assert slowed.update_timing is not None and slowed.timing is not None
    assert slowed.update_timing.min >= 0.1
    assert slowed.update_timing.median > 0.5 * slowed.timing.median  # the rest is small

    evaluated = run_trial(tiny_workload(), replace(config, mode=Mode.EVAL), 4, CpuBackend(),
                          lambda *a: None)  # fmt: skip
    assert evaluated.update_timing is None  # nothing to update in eval mode

"""Which ops' fake kernels allocate a different number of bytes than their real CPU kernels?

For every op in torch's own OpInfo database and every module in its ModuleInfo database
(float32 and bfloat16, CPU, modules in training mode), a few sample inputs run twice under
bsprof's live-storage tracker: once on real tensors, once on fake tensors (with bsprof's size
corrections), forward and, where gradients exist, backward. Every op whose bytes differ is
printed with both sizes. This is how bsprof.prediction.corrections was found, and how to
re-check it against a new torch release:

    pip install expecttest   # torch's OpInfo database imports it
    python benchmarks/fake_kernel_audit.py [--samples 3] [--op NAME]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._pytree import tree_flatten, tree_map

from bsprof.prediction.corrections import size_corrections
from bsprof.prediction.tracker import LiveStorageTracker


def _run(
    call: Callable[..., Any],
    state: dict[str, torch.Tensor],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    out = call(state, *args, **kwargs)
    outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    grads = [t for t in outputs if t.requires_grad and t.is_floating_point()]
    leaves = [t for t in tree_flatten((state, args, kwargs))[0] if isinstance(t, torch.Tensor)]
    leaves = [t for t in leaves if t.requires_grad]
    if grads and leaves:
        total = torch.stack([g.sum() for g in grads]).sum()
        torch.autograd.grad(total, leaves, allow_unused=True)


def _as_call(op: Callable[..., Any]) -> tuple[Callable[..., Any], dict[str, torch.Tensor]]:
    """Every case as a function of a state (a module's parameters and buffers, so both sides
    can pass their own real or fake ones; empty for an op) and its inputs."""
    if not isinstance(op, torch.nn.Module):
        return (lambda state, *args, **kwargs: op(*args, **kwargs)), {}
    module = op
    state = {**dict(module.named_parameters()), **dict(module.named_buffers())}

    def call(state: dict[str, torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        return torch.func.functional_call(module, state, args, kwargs)

    return call, state


def allocated(
    op: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], fake: bool
) -> dict[str, int]:
    call, state = _as_call(op)
    tracker = LiveStorageTracker(size_corrections() if fake else None)
    if not fake:
        with tracker:
            _run(call, state, args, kwargs)
        return tracker.allocated_by_op
    mode = FakeTensorMode(allow_non_fake_inputs=True)

    def convert(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        return mode.from_tensor(value.detach()).requires_grad_(value.requires_grad)

    fake_state, fake_args, fake_kwargs = tree_map(convert, (state, args, kwargs))
    with mode, tracker:
        _run(call, fake_state, fake_args, fake_kwargs)
    return tracker.allocated_by_op


Case = tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def op_cases(samples: int, dtype: torch.dtype) -> list[Case]:
    from torch.testing._internal.common_methods_invocations import op_db

    cases: list[Case] = []
    for info in op_db:
        try:
            inputs = list(
                info.sample_inputs(  # type: ignore[no-untyped-call]
                    "cpu", dtype, requires_grad=info.supports_autograd
                )
            )
        except Exception:
            continue
        for sample in inputs[:samples]:
            cases.append((info.name, info.op, (sample.input, *sample.args), dict(sample.kwargs)))
    return cases


def module_cases(
    samples: int, dtype: torch.dtype, input_dtype: torch.dtype | None = None
) -> list[Case]:
    """Modules with ``dtype`` weights; ``input_dtype`` casts the floating inputs (mixed
    precision: bf16 activations into fp32 norms, as autocast and "fp32 norms" recipes do)."""
    from torch.testing._internal.common_modules import module_db

    cases: list[Case] = []
    for info in module_db:
        if info.name.startswith("nn.Lazy"):
            continue  # parameters materialise on the first call: a construction effect
        try:
            inputs = info.module_inputs_func(
                info, device="cpu", dtype=dtype, requires_grad=True, training=True
            )
        except Exception:
            continue
        for sample in inputs[:samples]:
            if sample.forward_input is None:
                continue
            try:
                module = info.module_cls(
                    *sample.constructor_input.args, **sample.constructor_input.kwargs
                ).to(dtype)
            except Exception:
                continue
            forward = sample.forward_input
            args, kwargs = tuple(forward.args), dict(forward.kwargs)
            if input_dtype is not None:
                args, kwargs = tree_map(lambda v: _cast(v, input_dtype), (args, kwargs))
            cases.append((info.name, module, args, kwargs))
    return cases


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().to(dtype).requires_grad_(value.requires_grad)
    return value


def audit(cases: list[Case], only: str | None) -> list[str]:
    lines = []
    for name, op, args, kwargs in cases:
        if only and name != only:
            continue
        try:
            real = allocated(op, args, kwargs, fake=False)
            fake = allocated(op, args, kwargs, fake=True)
        except Exception:
            continue  # data-dependent, unsupported on fake tensors, or an invalid sample
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
        for allocating in sorted(set(real) | set(fake)):
            if real.get(allocating, 0) != fake.get(allocating, 0):
                lines.append(
                    f"{name:<32} {allocating:<42} real {real.get(allocating, 0):>9,} "
                    f"fake {fake.get(allocating, 0):>9,}  inputs {shapes}"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="sample inputs per op")
    parser.add_argument("--op", help="only this OpInfo or ModuleInfo name")
    options = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )
    started = time.perf_counter()
    total = 0
    passes: dict[str, Callable[[], list[Case]]] = {
        "float32": lambda: (
            op_cases(options.samples, torch.float32) + module_cases(options.samples, torch.float32)
        ),
        "bfloat16": lambda: (
            op_cases(options.samples, torch.bfloat16)
            + module_cases(options.samples, torch.bfloat16)
        ),
        "bfloat16 inputs, float32 modules": lambda: module_cases(
            options.samples, torch.float32, torch.bfloat16
        ),
    }
    for name, make_cases in passes.items():
        cases = make_cases()
        lines = audit(cases, options.op)
        total += len(lines)
        print(f"\n{name}: {len(cases)} cases")
        print(f"{'OpInfo / ModuleInfo':<32} {'op that allocated':<42} {'bytes':>14}")
        for line in lines:
            print(line)
    print(f"{total} mismatches in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

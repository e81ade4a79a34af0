"""How good and how fast is `--predict`, on this machine.

Accuracy: for each bundled example (and a Hugging Face GPT-2 built from its config, when
transformers is installed), at several batch sizes, the fake-tensor prediction of the peak of
live tensor storage against torch's own MemTracker around a real CPU iteration (the second,
steady-state one). Speed: a predicted sweep against a measured one over the same sizes.

    python benchmarks/prediction_accuracy.py
"""

from __future__ import annotations

import importlib.util
import os
import platform
import time
from pathlib import Path

import torch
from torch.distributed._tools.mem_tracker import MemTracker

from bsprof.config import SweepConfig
from bsprof.measure import make_step
from bsprof.predict import predict_iteration
from bsprof.sweep import QuietObserver, run_sweep
from bsprof.units import format_bytes
from bsprof.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
CASES = [
    ("examples/mnist_mlp.py", (1, 64, 512)),
    ("examples/small_cnn.py", (1, 16, 64)),
    ("examples/tiny_transformer.py", (1, 8, 32)),
    ("tests/models/hf_gpt2.py", (1, 4, 16)),
]


def real_peak(path: str, batch_size: int) -> tuple[int, float]:
    workload = load_workload(path)
    step = make_step(workload, SweepConfig(path), batch_size, CPU)
    step()
    assert step.optimizer is not None
    tracker = MemTracker()
    tracker.track_external(step.model, step.optimizer, step.inputs, step.targets)
    started = time.perf_counter()
    with tracker:
        step()
    elapsed = time.perf_counter() - started
    return int(tracker.get_tracker_snapshot("peak")[CPU]["Total"]), elapsed


def accuracy() -> None:
    print(f"{'model':<30} {'batch':>5} {'predicted':>11} {'real':>11} {'error':>7} {'predict':>8}")
    for model, sizes in CASES:
        if "hf_gpt2" in model and importlib.util.find_spec("transformers") is None:
            print(f"{model:<30} skipped: transformers is not installed")
            continue
        path = str(ROOT / model)
        workload = load_workload(path)
        for batch in sizes:
            started = time.perf_counter()
            predicted = predict_iteration(workload, SweepConfig(path), batch, False)
            predict_s = time.perf_counter() - started
            real, _ = real_peak(path, batch)
            error = (predicted.predicted_peak_bytes - real) / real
            print(
                f"{model:<30} {batch:>5} {format_bytes(predicted.predicted_peak_bytes):>11} "
                f"{format_bytes(real):>11} {error:>+7.2%} {predict_s:>7.2f}s"
            )


def speed() -> None:
    model = str(ROOT / "examples" / "small_cnn.py")
    sizes = (1, 2, 4, 8, 16, 32, 64, 128)
    timings = {}
    for predict in (True, False):
        config = SweepConfig(
            model, device="cpu", batch_sizes=sizes, predict=predict, memory_limit_bytes=2**31
        )
        started = time.perf_counter()
        run_sweep(config, QuietObserver())
        timings[predict] = time.perf_counter() - started
    print(
        f"small_cnn, batch sizes {sizes}: predicted sweep {timings[True]:.1f} s, "
        f"measured sweep (3 warm-up + 10 timed iterations each) {timings[False]:.1f} s"
    )


def main() -> None:
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )
    accuracy()
    speed()


if __name__ == "__main__":
    main()

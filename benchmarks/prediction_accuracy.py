"""How good and how fast is `--predict`, on this machine.

Accuracy: for every model family of the test zoo (tests/models/zoo) and the bundled examples,
at two batch sizes, the fake-tensor prediction of the peak of live tensor storage against
torch's own MemTracker around the second (steady-state) iteration of a plain training loop
written without bsprof (tests/reference.py). Also the predicted FLOPs and how long the
prediction took. Speed: a predicted sweep against a measured one over the same sizes.

    python benchmarks/prediction_accuracy.py   (from the repository root; needs transformers, peft)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.reference and tests.unit.test_zoo_predictions

from bsprof.config import Precision, SweepConfig  # noqa: E402
from bsprof.device import CPU  # noqa: E402
from bsprof.observer import QuietObserver  # noqa: E402
from bsprof.prediction import predict_iteration  # noqa: E402
from bsprof.sweeper import run_sweep  # noqa: E402
from bsprof.units import format_bytes  # noqa: E402
from bsprof.workload import load_workload  # noqa: E402
from tests.reference import memtracker_peak  # noqa: E402
from tests.unit.test_zoo_predictions import CASES, ZOO  # noqa: E402

EXAMPLES = [
    ("example: MLP (MNIST)", str(ROOT / "examples" / "mnist_mlp.py"), (1, 512), None),
    ("example: small CNN", str(ROOT / "examples" / "small_cnn.py"), (1, 64), None),
    ("example: tiny transformer", str(ROOT / "examples" / "tiny_transformer.py"), (1, 32), None),
]


def accuracy() -> float:
    print(
        f"{'family':<42} {'batch':>5} {'predicted':>11} {'real':>11} {'error':>7} "
        f"{'GFLOP/iter':>10} {'predict':>8}"
    )
    worst = 0.0
    cases = [(f, str(ZOO / file), b, a) for f, file, b, a in CASES] + EXAMPLES
    for family, path, sizes, autocast in cases:
        workload = load_workload(path)
        precision = Precision.BF16 if autocast is torch.bfloat16 else Precision.FP32
        config = SweepConfig(path, precision=precision)
        for batch in sizes:
            started = time.perf_counter()
            predicted = predict_iteration(workload, config, batch, False)
            predict_s = time.perf_counter() - started
            real = memtracker_peak(path, batch, autocast)
            error = (predicted.predicted_peak_bytes - real) / real
            worst = max(worst, abs(error))
            bound = ">=" if predicted.flops_incomplete else ""
            print(
                f"{family:<42} {batch:>5} {format_bytes(predicted.predicted_peak_bytes):>11} "
                f"{format_bytes(real):>11} {error:>+7.2%} "
                f"{bound + f'{predicted.flops_per_iter / 1e9:.3f}':>10} {predict_s:>7.2f}s"
            )
    return worst


def speed() -> None:
    model = str(ROOT / "examples" / "small_cnn.py")
    sizes = (1, 2, 4, 8, 16, 32, 64, 128)
    timings = {}
    for predict in (True, False):
        config = SweepConfig(
            model, device=CPU, batch_sizes=sizes, predict=predict, memory_limit_bytes=2**31
        )
        started = time.perf_counter()
        run_sweep(config, QuietObserver())
        timings[predict] = time.perf_counter() - started
    print(
        f"small_cnn, batch sizes {sizes}: predicted sweep {timings[True]:.1f} s, "
        f"measured sweep (3 warm-up + 10 timed iterations each) {timings[False]:.1f} s "
        "(both include the self-check and start-up)"
    )


def main() -> None:
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )
    print("real = torch MemTracker peak, second iteration of a plain training loop, CPU")
    worst = accuracy()
    print(f"largest absolute error: {worst:.2%}")
    speed()


if __name__ == "__main__":
    main()

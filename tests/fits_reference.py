"""A plain training loop in a fresh process under bsprof's CPU memory cap: does batch B fit?

    python -m tests.fits_reference MODEL_FILE BATCH LIMIT_BYTES

Exit 0: two iterations ran (the second with the optimizer's state); 3: out of memory. The loop
is written as HF Trainer and Lightning run one (the loss computed in a function, the outputs
gone before backward), by tests/reference.py, not by bsprof's step code. The cap is the one
bsprof's CPU trials use (the process's address space after start-up plus the limit), applied by
bsprof's own backend so both sides mean the same thing by "fits".
"""

from __future__ import annotations

import sys

# AdamW imports torch._dynamo on its first step; a training process has long loaded it by its
# peak, so it is loaded before the cap, as in bsprof's workers.
import torch
import torch._dynamo

from bsprof.backends.cpu import CpuBackend
from tests.reference import PlainLoop, load_model_file

OUT_OF_MEMORY = 3


def main(path: str, batch_size: int, limit_bytes: int) -> int:
    file = load_model_file(path)  # imported once, before the cap, as bsprof's workers do
    # Seeded at start-up, as a training script does at its top, not under the cap: on a torch
    # without CUDA, torch.manual_seed queues CUDA's (and XPU's) lazy seeding with
    # traceback.format_stack(), which reads every source file on the stack into linecache
    # (about 480 KiB of Python objects, torch/cuda/__init__.py the largest). Under the cap that
    # took a new 1 MiB pymalloc arena, 92 batch samples of the MNIST MLP at 64 MiB: memory no
    # training iteration uses, which bsprof's trials (which do not seed) never counted.
    torch.manual_seed(0)
    CpuBackend().prepare(limit_bytes)
    try:
        loop = PlainLoop(file, batch_size, seed=False)
        loop.step()
        loop.step()
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc):
            return OUT_OF_MEMORY
        raise
    except MemoryError:
        return OUT_OF_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))

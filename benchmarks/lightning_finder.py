"""Lightning's batch-size finder on a bsprof model file, under bsprof's CPU memory cap.

    python benchmarks/lightning_finder.py MODEL_FILE LIMIT_BYTES MAX_VAL [--stock]

The Lightning side of benchmarks/vs_lightning.py (which explains the set-up); run it from the
repository root with the root on PYTHONPATH, in an environment with lightning installed
(lightning is not a bsprof dependency). Prints one JSON line: Lightning's answer, the batch
sizes it tried, and the seconds from this process's start (``BENCH_SPAWNED_AT``, set by the
harness) to the search's start.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

# AdamW imports torch._dynamo on its first step: loaded before the cap, as in bsprof's workers
# and tests/fits_reference.py.
import torch
import torch._dynamo
from torch.utils.data import DataLoader, IterableDataset

from bsprof.backends.cpu import CpuBackend
from tests.reference import _loss, load_model_file

STEPS_PER_TRIAL = 3  # bsprof's side runs --warmup 1 --iters 2: three iterations per trial


class Trials:
    """The trials Lightning ran, in order: batch size, steps completed, seconds from the trial's
    start to the next one's (or to the search's end), Lightning's work between trials included.

    The finder builds each trial's first batch when it resets the dataloader, before the trial
    runs, and builds batches it never trains on (on restoring its state at the end): a row is
    a trial when training started on it, or when building its batch failed (the finder counts
    that as the size's out-of-memory)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def batch_building(self, batch_size: int) -> None:
        self.rows = [row for row in self.rows if row["ran"] or not row["built"]]
        self.rows.append({"batch_size": batch_size, "built": False, "ran": False, "steps": 0})

    def batch_built(self) -> None:
        self.rows[-1]["built"] = True

    def training_started(self) -> None:
        self.rows[-1]["ran"] = True
        self.rows[-1]["started"] = time.perf_counter()

    def stepped(self) -> None:
        self.rows[-1]["steps"] += 1

    def to_list(self, ended: float) -> list[dict[str, Any]]:
        rows = [row for row in self.rows if row["ran"] or not row["built"]]
        starts = [row.get("started") for row in rows]
        out = []
        for row, start, after in zip(rows, starts, [*starts[1:], ended], strict=True):
            seconds = after - start if start is not None and after is not None else None
            status = "ok" if row["steps"] >= STEPS_PER_TRIAL else "oom"
            out.append({"batch_size": row["batch_size"], "status": status, "seconds": seconds})
        return out


class SameBatch(IterableDataset[Any]):
    """The model file's make_batch(B), built once per pass and yielded for every step: the
    batch bsprof's trials and the reference loop train on (one batch, reused), with no
    prefetched second batch alive beside it."""

    def __init__(self, file: ModuleType, batch_size: int, trials: Trials) -> None:
        self.file, self.batch_size, self.trials = file, batch_size, trials

    def __iter__(self) -> Iterator[Any]:
        self.trials.batch_building(self.batch_size)
        batch = self.file.make_batch(self.batch_size)
        self.trials.batch_built()
        for _ in range(STEPS_PER_TRIAL):
            yield batch


def release_failed_trial_first(scaling: Any) -> None:
    """The shim (``--stock-lightning`` leaves it out): before the finder builds the next
    trial's dataloader, drop the failed trial's traceback.

    After an out-of-memory trial, Lightning's binsearch calls ``_reset_dataloaders`` inside its
    ``except`` block, and that fetches the next trial's first batch while the exception's
    traceback still holds the failed trial's frames (its batch, its activations). On a GPU the
    batch is built in host memory, outside the device's limit; on a capped CPU that allocation
    can fail in turn, outside any ``try``, and the finder crashes. Clearing the traceback is
    what leaving the ``except`` block would do a moment later; nothing else changes.
    """
    reset = scaling._reset_dataloaders

    def reset_dataloaders(trainer: Any) -> None:
        failed = sys.exc_info()[1]
        if failed is not None:
            failed.__traceback__ = None
            gc.collect()
        reset(trainer)

    scaling._reset_dataloaders = reset_dataloaders


def find(path: str, limit_bytes: int, max_val: int, stock: bool) -> dict[str, Any]:
    pl: Any = importlib.import_module("lightning.pytorch")
    tuner: Any = importlib.import_module("lightning.pytorch.tuner")
    if not stock:
        release_failed_trial_first(
            importlib.import_module("lightning.pytorch.tuner.batch_size_scaling")
        )
    file = load_model_file(path)  # imported before the cap, as bsprof's workers do
    trials = Trials()

    class Data(pl.LightningDataModule):  # type: ignore[misc]  # lightning is untyped here (Any)
        def __init__(self) -> None:
            super().__init__()
            self.batch_size = 1  # the attribute Lightning's finder scales

        def train_dataloader(self) -> DataLoader[Any]:
            # batch_size=None: the dataset yields whole batches, as make_batch builds them
            return DataLoader(SameBatch(file, self.batch_size, trials), batch_size=None)

    class Module(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = file.build_model()  # seeded at start-up, before the cap (below)

        def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
            inputs, targets = batch
            loss: torch.Tensor = _loss(file, self.model, inputs, targets)  # as the reference
            return loss

        def on_train_start(self) -> None:
            trials.training_started()

        def on_train_batch_end(self, *args: Any) -> None:
            trials.stepped()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            make = getattr(file, "build_optimizer", None) or torch.optim.AdamW
            optimizer: torch.optim.Optimizer = make(self.model.parameters())
            return optimizer

    with tempfile.TemporaryDirectory(prefix="bsprof-vs-lightning-") as root:
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            max_epochs=1,
            default_root_dir=root,  # the finder saves and restores a checkpoint here
        )
        data = Data()
        # Seeded here, at start-up, as in tests/fits_reference.py: under the cap, a CPU-only
        # torch's manual_seed costs ~480 KiB of Python objects (CUDA's lazy seeding formats
        # the stack, reading its source files into linecache), i.e. a 1 MiB pymalloc arena.
        torch.manual_seed(0)
        # The same cap as bsprof's trials and the reference: this process's address space once
        # started (torch, lightning, the model file imported; allocator tamed, runtime warmed)
        # plus the limit. The model is built under it, as in bsprof's workers.
        CpuBackend().prepare(limit_bytes)
        spawned = float(os.environ.get("BENCH_SPAWNED_AT", "nan"))
        startup_s = time.time() - spawned
        model = Module()
        answer = tuner.Tuner(trainer).scale_batch_size(
            model,
            datamodule=data,
            mode="binsearch",
            init_val=1,
            max_trials=64,  # counts successful trials only; never the limit here
            steps_per_trial=STEPS_PER_TRIAL,
            margin=0.0,  # the boundary itself, not 5% under it (binsearch's default margin)
            max_val=max_val,
        )
        ended = time.perf_counter()
    return {"answer": answer, "startup_s": startup_s, "trials": trials.to_list(ended)}


if __name__ == "__main__":
    stock = "--stock" in sys.argv[4:]
    result = find(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), stock)
    print(json.dumps(result))

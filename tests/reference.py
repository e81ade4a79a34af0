"""Independent references for bsprof's numbers: a plain training loop written the way HF
Trainer and Lightning run one, measured by torch's own MemTracker.

Nothing here uses bsprof's step code: the model file's functions are called directly, the loss
is computed in a function whose outputs die before backward, and torch measures the peak.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch.distributed._tools.mem_tracker import MemTracker

CPU = torch.device("cpu")


class TensorMemTracker(MemTracker):  # type: ignore[no-untyped-call]
    """MemTracker without its per-module statistics.

    Its module hooks refuse frozen parameters ("cannot register a hook on a tensor that doesn't
    require gradient") and modules called twice in one forward ("does not support memory
    tracking for multiple iterative calls"); the device totals come from its dispatch-level
    storage tracking alone, which these overrides leave untouched.
    """

    def _pre_fw_hook(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _post_fw_hook(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _pre_bw_hook(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _post_bw_hook(self, *args: Any, **kwargs: Any) -> None:
        pass


def load_model_file(path: str | Path) -> ModuleType:
    """Import a model file as bsprof does: its folder on sys.path, for its neighbours."""
    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"reference_{Path(path).stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _loss(file: ModuleType, model: torch.nn.Module, inputs: Any, targets: Any) -> torch.Tensor:
    """Forward and loss in one function: the outputs are gone when it returns."""
    if hasattr(file, "training_step"):
        loss: torch.Tensor = file.training_step(model, inputs, targets)
        return loss
    if isinstance(inputs, dict):
        outputs = model(**inputs)
    elif isinstance(inputs, tuple):
        outputs = model(*inputs)
    else:
        outputs = model(inputs)
    if hasattr(file, "loss_fn"):
        loss = file.loss_fn(outputs, targets)
        return loss
    # bsprof's documented default: outputs.loss, else cross-entropy for integer targets, else MSE
    if getattr(outputs, "loss", None) is not None:
        loss = outputs.loss
        return loss
    logits = outputs.logits if hasattr(outputs, "logits") else outputs
    if not targets.is_floating_point():
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1)
        )
    return torch.nn.functional.mse_loss(logits.float(), targets.float())


Prepare = Callable[[torch.nn.Module], torch.nn.Module]
MakeOptimizer = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


class PlainLoop:
    """The model file's model, batch and optimizer in a hand-written training loop.

    ``prepare`` changes the built model as a training script would (cast it, add adapters,
    enable checkpointing); ``make_optimizer`` replaces the file's optimizer and gets the
    parameters that require grad. ``model_file`` is a path, or the module load_model_file
    already imported (a script imports its model once). ``seed=False``: the caller seeded
    torch already, as a training script does at its top (see tests/fits_reference.py)."""

    def __init__(
        self,
        model_file: str | Path | ModuleType,
        batch_size: int,
        autocast: torch.dtype | None = None,
        prepare: Prepare | None = None,
        make_optimizer: MakeOptimizer | None = None,
        seed: bool = True,
    ):
        if isinstance(model_file, ModuleType):
            self.file = model_file
        else:
            self.file = load_model_file(model_file)
        if seed:
            torch.manual_seed(0)
        self.model = self.file.build_model()
        if prepare is not None:
            self.model = prepare(self.model)
        self.model.train()
        self.inputs, self.targets = self.file.make_batch(batch_size)
        if make_optimizer is not None:
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            self.optimizer = make_optimizer(trainable)
        else:
            make = getattr(self.file, "build_optimizer", None) or torch.optim.AdamW
            self.optimizer = make(self.model.parameters())
        self.autocast = autocast

    def step(self) -> None:
        context = (
            torch.autocast("cpu", dtype=self.autocast)
            if self.autocast is not None
            else contextlib.nullcontext()
        )
        with context:
            loss = _loss(self.file, self.model, self.inputs, self.targets)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def memtracker_peak(
    path: str | Path,
    batch_size: int,
    autocast: torch.dtype | None = None,
    prepare: Prepare | None = None,
    make_optimizer: MakeOptimizer | None = None,
) -> int:
    """torch's MemTracker peak over the second (steady-state) iteration of a plain loop."""
    loop = PlainLoop(path, batch_size, autocast, prepare, make_optimizer)
    loop.step()  # the optimizer's state exists from here on
    tracker = TensorMemTracker()
    # targets may be None (HF models compute their own loss); older MemTrackers refuse None
    tracked = (loop.model, loop.optimizer, loop.inputs, loop.targets)
    tracker.track_external(*(x for x in tracked if x is not None))
    with tracker:
        loop.step()
    return int(tracker.get_tracker_snapshot("peak")[CPU]["Total"])

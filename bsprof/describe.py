"""Read the user's training setup (optimizer, loss, parameters) from the objects the model file
builds. The model is built on fake tensors, so describing an 8B model costs no memory.

``describe_training`` runs no forward pass (the probe must stay cheap and never run the user's
forward); which default loss applies depends on the model's output, so ``default_loss_name`` is
asked where a fake forward runs anyway (the prediction worker)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn.parameter import is_lazy

from bsprof.config import Mode, SweepConfig
from bsprof.model_setup import OptimizerName
from bsprof.prediction.fake import fake_tensors
from bsprof.step import (
    build_model,
    build_optimizer,
    call_model,
    checked_batch,
    default_loss_choice,
    eager_module,
    to_device,
)
from bsprof.training_options import OPTIMIZER_CLASSES, check_training_options, describe_options
from bsprof.training_setup import LAZY_PARAMETERS, TrainingSetup
from bsprof.workload import Workload

CPU = torch.device("cpu")
DEFAULT_LOSS_RULE = "default: outputs.loss, else cross_entropy (integer targets), else mse_loss"


def describe_training(workload: Workload, config: SweepConfig) -> TrainingSetup:
    """The setup, with a note instead of details where the model cannot be built on fake
    tensors (the measured trials then report any real error themselves)."""
    check_training_options(config, workload.source, workload.build_optimizer is not None)
    optimizer_source = _optimizer_source(workload, config)
    loss, loss_source = _loss_without_running(workload, config)
    loss = loss or DEFAULT_LOSS_RULE
    try:
        model, optimizer = _built(workload, config)
    except Exception as exc:
        return TrainingSetup(
            optimizer_class=_unbuilt_optimizer_class(workload, config),
            optimizer_source=optimizer_source,
            loss=loss,
            loss_source=loss_source,
            note=f"not inspected: building the model without memory failed ({_first_line(exc)})",
        )
    parameters = list(model.parameters())
    groups = [_hyperparameters(group) for group in optimizer.param_groups]
    total, trainable = _parameter_counts(parameters)
    return TrainingSetup(
        optimizer_class=_class_name(optimizer),
        optimizer_source=optimizer_source,
        loss=loss,
        loss_source=loss_source,
        hyperparameters=groups[0],
        param_groups=len(groups),
        group_overrides=tuple(
            {key: value for key, value in group.items() if groups[0].get(key) != value}
            for group in groups[1:]
        ),
        parameters=total,
        trainable_parameters=trainable,
        note=LAZY_PARAMETERS if total is None else None,
        compiled=eager_module(model) is not model,
        options=describe_options(model, config),
    )


def _parameter_counts(parameters: list[torch.nn.Parameter]) -> tuple[int | None, int | None]:
    """All parameters and the trainable ones; both unknown while a lazy module's parameters
    have no shape (until the first forward, which the probe never runs)."""
    if any(is_lazy(p) for p in parameters):
        return None, None
    return sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad)


def _optimizer_source(workload: Workload, config: SweepConfig) -> str:
    if workload.build_optimizer is not None:
        return "build_optimizer()"
    return "default" if config.optimizer_name is None else "--optimizer"


def _unbuilt_optimizer_class(workload: Workload, config: SweepConfig) -> str:
    if workload.build_optimizer is not None:
        return "build_optimizer()"
    return "torch.optim." + OPTIMIZER_CLASSES[config.optimizer_name or OptimizerName.ADAMW]


def _built(
    workload: Workload, config: SweepConfig
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model (with the config's training options) and optimizer on fake tensors, or else
    on the meta device (lazy modules materialise there, not on fake tensors): neither holds
    any memory."""
    try:
        with fake_tensors(workload):
            model = build_model(workload, CPU, config)
            return model, build_optimizer(workload, model, config)
    except Exception:
        with torch.device("meta"):
            model = build_model(workload, torch.device("meta"), config)
            return model, build_optimizer(workload, model, config)


def _loss_without_running(workload: Workload, config: SweepConfig) -> tuple[str | None, str]:
    if config.mode is Mode.EVAL:
        return "none", "none (eval: forward only)"
    if workload.training_step is not None:
        return _callable_name(workload.training_step), "training_step()"
    if workload.loss_fn is not None:
        return _callable_name(workload.loss_fn), "loss_fn()"
    return None, "default"


def default_loss_name(workload: Workload, config: SweepConfig) -> str | None:
    """Which default loss the model's output selects, from one fake forward at the smallest
    batch size; None when the model file names its own loss or the forward fails here."""
    if _loss_without_running(workload, config)[0] is not None:
        return None
    batch_size = min(config.batch_sizes or config.doubling_sizes)
    try:
        with fake_tensors(workload):
            model = eager_module(build_model(workload, CPU))
            inputs, targets = checked_batch(workload, batch_size, config.seq_len)
            with torch.no_grad():
                outputs = call_model(model, to_device(inputs, CPU))
            return default_loss_choice(workload.source, outputs, targets)
    except Exception:
        return None


def _callable_name(function: Any) -> str:
    name = getattr(function, "__qualname__", None)
    return str(name) if name else type(function).__name__


def _class_name(optimizer: torch.optim.Optimizer) -> str:
    cls = type(optimizer)
    module = cls.__module__
    if module.startswith("torch.optim.") and hasattr(torch.optim, cls.__name__):
        module = "torch.optim"  # torch.optim.adamw.AdamW is torch.optim.AdamW to users
    return f"{module}.{cls.__qualname__}"


def _hyperparameters(group: dict[str, Any]) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in group.items() if key != "params"}


def _json_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"  # e.g. a tensor lr; its value is fake here
    return repr(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__

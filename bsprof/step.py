"""The training step both measuring and predicting run: build the model, optimizer and batch
from the model file, then one iteration = forward and loss (outputs released before backward),
backward, optimizer step, zero_grad (``--mode eval``: forward only, under
``torch.inference_mode()``). The batch is built once and moved to the device before timing.
The sweep's training options (true low precision, LoRA, gradient checkpointing, torch's
optimizers) are applied by bsprof.training_options as the model and optimizer are built."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from bsprof.config import Mode, Precision, SweepConfig
from bsprof.errors import ModelFileError
from bsprof.model_setup import OptimizerName
from bsprof.training_options import (
    TRUE_DTYPES,
    apply_training_options,
    check_training_options,
    optimizer_for,
    trainable,
)
from bsprof.workload import UserCodeError, Workload

_AUTOCAST_DTYPES = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}


@dataclass
class TrainingStep:
    """The user's model, batch, loss and optimizer bound into one callable iteration."""

    workload: Workload
    model: torch.nn.Module
    inputs: Any
    targets: Any
    optimizer: torch.optim.Optimizer | None
    mode: Mode
    precision: Precision
    device_type: str
    scaler: Any = None

    def __call__(self) -> None:
        self.run_phases(_ignore_phase)

    def run_phases(self, enter: Callable[[str], None]) -> None:
        """One iteration, announcing each phase (forward, backward, optimizer step) as it starts.

        As in HF Trainer and Lightning, only the loss survives into backward: the model's
        outputs (a language model's logits are often the largest tensor of the step) are
        released when ``_forward_and_loss`` returns, before backward starts.
        """
        enter("forward")
        if self.mode is Mode.EVAL:
            with torch.inference_mode(), self._autocast():
                self._forward()
            return
        assert self.optimizer is not None
        loss = self.loss()
        enter("backward")
        if self.scaler is not None:
            self._user("backward", lambda: self.scaler.scale(loss).backward())
            enter("optimizer step")
            self._user("the optimizer step", lambda: self.scaler.step(self.optimizer))
            self.scaler.update()
        else:
            self.backward(loss)
            enter("optimizer step")
            self._user("the optimizer step", self.optimizer.step)
        self.optimizer.zero_grad(set_to_none=True)

    def loss(self) -> torch.Tensor:
        """The iteration's loss, as training computes it (forward and loss, under the
        precision's autocast); ``bsprof noise`` takes gradients of it without a step."""
        with self._autocast():
            return self._forward_and_loss()

    def backward(self, loss: torch.Tensor) -> None:
        self._user("backward", loss.backward)

    def _forward_and_loss(self) -> torch.Tensor:
        """The user's training_step, or forward then loss; the outputs die on return."""
        training_step = self.workload.training_step
        if training_step is not None:
            loss = self._user(
                "training_step", lambda: training_step(self.model, self.inputs, self.targets)
            )
            return checked_loss(self.workload.source, "training_step", loss)
        outputs = self._forward()
        return self._user(  # type: ignore[no-any-return]
            "loss_fn" if self.workload.loss_fn else "the default loss",
            lambda: compute_loss(self.workload, outputs, self.targets),
        )

    def _forward(self) -> Any:
        return self._user("the model's forward", lambda: call_model(self.model, self.inputs))

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = _AUTOCAST_DTYPES.get(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=dtype)

    def _user(self, function: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (UserCodeError, ModelFileError):
            raise
        except (Exception, SystemExit) as exc:  # sys.exit() in user code is a failure too
            raise UserCodeError(self.workload.source, function, exc) from exc


def _ignore_phase(phase: str) -> None:
    pass


def call_model(model: torch.nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def compute_loss(workload: Workload, outputs: Any, targets: Any) -> torch.Tensor:
    if workload.loss_fn is not None:
        return checked_loss(workload.source, "loss_fn", workload.loss_fn(outputs, targets))
    return checked_loss(
        workload.source, "the loss", default_loss(workload.source, outputs, targets)
    )


def checked_loss(source: str, what: str, loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = (
            f"a tensor of shape {tuple(loss.shape)}"
            if isinstance(loss, torch.Tensor)
            else type(loss).__name__
        )
        raise ModelFileError(f"{source}: {what} must return a scalar loss tensor, got {got}")
    return loss


def default_loss(source: str, outputs: Any, targets: Any) -> torch.Tensor:
    """outputs.loss when the model computed one; cross-entropy for integer targets; else MSE."""
    choice = default_loss_choice(source, outputs, targets)
    if choice == "outputs.loss":
        loss: torch.Tensor = _output_loss(outputs)
        return loss
    logits = _first_tensor(outputs)
    assert logits is not None and targets is not None  # default_loss_choice checked both
    if choice == "cross_entropy":
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1)
        )
    if logits.shape != targets.shape:  # MSE would broadcast (B, 1) and (B,) into (B, B)
        raise ModelFileError(
            f"{source}: the default MSE loss got outputs of shape {tuple(logits.shape)} and "
            f"float targets of shape {tuple(targets.shape)}; they must match (reshape the "
            "targets in make_batch, or define loss_fn)"
        )
    return torch.nn.functional.mse_loss(logits.float(), targets.float())


def default_loss_choice(source: str, outputs: Any, targets: Any) -> str:
    """Which default loss applies: ``outputs.loss``, ``cross_entropy`` or ``mse_loss``."""
    if isinstance(_output_loss(outputs), torch.Tensor):
        return "outputs.loss"
    if targets is None:
        raise ModelFileError(
            f"{source}: make_batch() returned targets=None but the model's output has no .loss; "
            "return targets or define loss_fn(outputs, targets)"
        )
    if _first_tensor(outputs) is None:
        raise ModelFileError(
            f"{source}: cannot find a tensor in the model's output "
            f"({type(outputs).__name__}); define loss_fn(outputs, targets)"
        )
    return "mse_loss" if targets.is_floating_point() else "cross_entropy"


def _output_loss(outputs: Any) -> Any:
    return outputs.get("loss") if isinstance(outputs, dict) else getattr(outputs, "loss", None)


def _first_tensor(outputs: Any) -> torch.Tensor | None:
    if isinstance(outputs, torch.Tensor):
        return outputs
    logits = getattr(outputs, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(outputs, (tuple, list)) and outputs:
        return _first_tensor(outputs[0])
    return None


def map_tensors(value: Any, change: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """A batch (a tensor, or dicts, tuples, namedtuples and lists of them) with each tensor
    changed; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return change(value)
    if isinstance(value, dict):
        return {k: map_tensors(v, change) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(map_tensors(v, change) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(map_tensors(v, change) for v in value)
    return value


def to_device(value: Any, device: torch.device) -> Any:
    return map_tensors(value, lambda tensor: tensor.to(device))


def _placed(value: Any, device: torch.device, precision: Precision) -> Any:
    """A batch on ``device``; for a true low precision its floating-point tensors in that
    dtype too (a cast model refuses fp32 inputs), while token ids, labels and masks keep
    theirs."""
    dtype = TRUE_DTYPES.get(precision)
    if dtype is None:
        return to_device(value, device)
    return map_tensors(
        value, lambda t: t.to(device, dtype) if t.is_floating_point() else t.to(device)
    )


def checked_batch(
    workload: Workload, batch_size: int, seq_len: int | None = None
) -> tuple[Any, Any]:
    """make_batch's (inputs, targets) at ``batch_size`` and ``seq_len`` (``--seq-len``; None:
    the workload's default length, if any), held to the contract."""
    length = workload.batch_length(seq_len)
    call = f"make_batch({batch_size})" if length is None else f"make_batch({batch_size}, {length})"
    try:
        batch = workload.batch(batch_size, length)
    except ModelFileError:
        raise  # bsprof's own batches refusing a length (an hf: model's positions)
    except (Exception, SystemExit) as exc:
        raise UserCodeError(workload.source, call, exc) from exc
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ModelFileError(
            f"{workload.source}: {call} returned {type(batch).__name__}; "
            "expected a pair (inputs, targets): inputs a tensor, tuple or dict; targets a "
            "tensor or None"
        )
    inputs, targets = batch
    if not isinstance(inputs, (torch.Tensor, tuple, list, dict)):
        raise ModelFileError(
            f"{workload.source}: {call} returned inputs of type "
            f"{type(inputs).__name__}; expected a tensor, a tuple of tensors or a dict"
        )
    if targets is not None and not isinstance(targets, torch.Tensor):
        raise ModelFileError(
            f"{workload.source}: {call} returned targets of type "
            f"{type(targets).__name__}; expected a tensor or None"
        )
    _check_batch_dimension(workload, batch_size, inputs, call)
    return inputs, targets


def _check_batch_dimension(workload: Workload, batch_size: int, inputs: Any, call: str) -> None:
    """Some input tensor must have the requested size along the batch dimension: a make_batch
    that ignores its argument would make every batch size measure the same work."""
    dim = workload.batch_dim
    tensors = [t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)]
    sizes = [t.shape[dim] for t in tensors if t.dim() > dim]
    if batch_size in sizes:
        return
    found = ", ".join(str(size) for size in dict.fromkeys(sizes))
    what = f"is {found}" if found else "does not exist (no input tensor has that many dimensions)"
    hint = (
        "; if the batch is not the inputs' first dimension (sequence-first models), set "
        "BATCH_DIM in the model file"
        if dim == 0
        else ""
    )
    raise ModelFileError(
        f"{workload.source}: {call} returned inputs whose batch dimension "
        f"(dim {dim}) {what}, not {batch_size}: make_batch must build a batch of the size it "
        f"is given{hint}"
    )


def build_model(
    workload: Workload, device: torch.device, config: SweepConfig | None = None
) -> torch.nn.Module:
    """The model file's model on ``device``, with the config's training options applied
    (bsprof.training_options): cast before the move, so a bf16-true model never needs its
    fp32 copy on the device."""
    try:
        model = workload.build_model()
    except (Exception, SystemExit) as exc:
        raise UserCodeError(workload.source, "build_model()", exc) from exc
    if not isinstance(model, torch.nn.Module):
        raise ModelFileError(
            f"{workload.source}: build_model() returned {type(model).__name__}; "
            "expected a torch.nn.Module"
        )
    if config is not None:
        model = apply_training_options(model, config, workload.source)
    tensors = [*model.parameters(), *model.buffers()]
    if all(t.device == device for t in tensors):
        return model  # nothing to move; fake tensors must not be swapped by .to()
    return model.to(device)


def build_optimizer(
    workload: Workload, model: torch.nn.Module, config: SweepConfig | None = None
) -> torch.optim.Optimizer:
    """The model file's build_optimizer(model.parameters()), else torch's optimizer the config
    names (AdamW by default) over the trainable parameters."""
    name = config.optimizer_name if config is not None else None
    if workload.build_optimizer is None:
        # a model with nothing trainable keeps all its parameters, as before: its backward,
        # not torch's "empty parameter list", is what fails
        parameters = trainable(model) or list(model.parameters())
        return optimizer_for(name or OptimizerName.ADAMW, parameters)
    try:
        optimizer = workload.build_optimizer(model.parameters())
    except (Exception, SystemExit) as exc:
        raise ModelFileError(
            str(UserCodeError(workload.source, "build_optimizer()", exc))
        ) from None
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ModelFileError(
            f"{workload.source}: build_optimizer() returned {type(optimizer).__name__}; "
            "expected a torch.optim.Optimizer"
        )
    return optimizer


def eager_module(model: torch.nn.Module) -> torch.nn.Module:
    """The module under torch.compile's wrapper (the same parameters), or the model itself."""
    original = getattr(model, "_orig_mod", None)
    return original if isinstance(original, torch.nn.Module) else model


ModelWrapper = Callable[[torch.nn.Module], torch.nn.Module]


def make_step(
    workload: Workload,
    config: SweepConfig,
    batch_size: int,
    device: torch.device,
    wrap_model: ModelWrapper | None = None,
) -> TrainingStep:
    check_training_options(config, workload.source, workload.build_optimizer is not None)
    model = build_model(workload, device, config)
    if wrap_model is not None:
        model = wrap_model(model)  # e.g. DistributedDataParallel: after .to(device)
    inputs, targets = checked_batch(workload, batch_size, config.seq_len)
    inputs = _placed(inputs, device, config.precision)
    targets = _placed(targets, device, config.precision)
    training = config.mode is Mode.TRAIN
    model.train(training)
    scaler = None
    # Loss scaling goes with fp16 autocast only: fp16-true has none (as in Lightning's
    # "16-true"), so its small gradients may underflow, which costs no memory.
    if training and config.precision is Precision.FP16 and device.type == "cuda":
        scaler = torch.amp.GradScaler("cuda")
    return TrainingStep(
        workload=workload,
        model=model,
        inputs=inputs,
        targets=targets,
        optimizer=build_optimizer(workload, model, config) if training else None,
        mode=config.mode,
        precision=config.precision,
        device_type=device.type,
        scaler=scaler,
    )

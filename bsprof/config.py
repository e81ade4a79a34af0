"""Enums and the frozen, validated configuration of a sweep. No torch here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from bsprof.device import AUTO, Device
from bsprof.errors import ConfigError
from bsprof.gpus import DeviceModel, device_model_from_dict
from bsprof.model_setup import OptimizerName, Strategy, Task
from bsprof.training_setup import TrainingSetup
from bsprof.units import MAX_BYTES, MAX_SECONDS

DEFAULT_MAX_BATCH = 8192
MAX_BATCH_SIZE = 2**40  # far past any memory: larger batch sizes are typos or overflows
PREDICT_MAX_BATCH = 2**24  # fake trials are cheap: search until the target is full
DEFAULT_WARMUP = 3
DEFAULT_ITERS = 10
DEFAULT_TRIAL_TIMEOUT_S = 300.0
# Without --memory-limit a CPU trial may use at most this share of the RAM that is available
# when the sweep starts, so a runaway batch size meets a clean OOM instead of the OOM killer.
DEFAULT_CPU_RAM_FRACTION = 0.8
# How a sweep's warning begins where it capped a CPU trial itself: bsprof plan recognises it.
DEFAULT_CAP_WARNING = "no --memory-limit:"


class Mode(str, Enum):
    TRAIN = "train"  # forward, loss, backward, optimizer step, zero_grad
    EVAL = "eval"  # forward only, under torch.inference_mode()


class Precision(str, Enum):
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    BF16_TRUE = "bf16-true"  # weights, gradients and optimizer state in bfloat16, no autocast
    FP16_TRUE = "fp16-true"  # the same in float16


@dataclass(frozen=True)
class SweepConfig:
    """Everything one sweep needs; stored whole in the result JSON."""

    model: str
    device: Device = AUTO
    mode: Mode = Mode.TRAIN
    precision: Precision = Precision.FP32
    batch_sizes: tuple[int, ...] = ()
    min_batch: int = 1
    max_batch: int = DEFAULT_MAX_BATCH
    exact: bool = False
    recheck: bool = False  # --exact: B and B + 1 once more, each in a fresh trial
    warmup: int = DEFAULT_WARMUP
    iters: int = DEFAULT_ITERS
    min_time_s: float | None = None
    memory_limit_bytes: int | None = None
    trial_timeout_s: float = DEFAULT_TRIAL_TIMEOUT_S
    threads: int | None = None
    dataset_size: int | None = None
    epochs: int | None = None
    drop_last: bool = False
    world_size: int = 1
    oversubscribe: bool = False  # allow more ranks than CPU cores or GPUs
    predict: bool = False  # fake-tensor trials instead of real ones
    guide: bool = False  # a measured sweep predicts first to steer its search (else beside it)
    self_check: bool = True  # compare a prediction with one real CPU iteration (small models)
    target: DeviceModel | None = None  # the device a prediction is for (--device-memory/--gpu)
    training: TrainingSetup | None = None  # what the model file's loop is made of (probed)
    seq_lens: tuple[int, ...] = ()  # sequence lengths: make_batch(batch, seq_len) per length
    task: Task | None = None  # an hf: model's head (default: from its config's architectures)
    lora_rank: int | None = None  # peft LoRA adapters of this rank, the base model frozen
    grad_checkpointing: bool = False  # recompute activations in backward (per block)
    optimizer_name: OptimizerName | None = None  # torch's optimizer when the file builds none
    strategy: Strategy = Strategy.DDP  # how --nproc ranks share the model
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys a newer bsprof wrote

    def __post_init__(self) -> None:
        _check_types({f.name: getattr(self, f.name) for f in fields(self)})
        for name, value in (("min_batch", self.min_batch), ("max_batch", self.max_batch),
                            ("iters", self.iters), ("nproc", self.world_size)):  # fmt: skip
            _positive(name, value)
        if self.warmup < 0:
            raise ConfigError("{warmup} must be 0 or more, got {value}", value=self.warmup)
        if self.min_batch > self.max_batch:
            raise ConfigError("{min_batch} ({low}) is larger than {max_batch} ({high})",
                              low=self.min_batch, high=self.max_batch)  # fmt: skip
        for size in (*self.batch_sizes, self.max_batch):
            if size > MAX_BATCH_SIZE:
                raise ConfigError("batch size {size} is beyond any memory (at most 2**40)",
                                  size=size)  # fmt: skip
        for size in self.batch_sizes:
            _positive("batch_sizes", size)
        for length in self.seq_lens:
            _positive("seq_len", length)
        if len(set(self.seq_lens)) != len(self.seq_lens):
            raise ConfigError("{seq_len} repeats a length: {value}", value=self.seq_lens)
        if self.lora_rank is not None:
            _positive("lora", self.lora_rank)
        self._check_search_and_target()
        self._check_timing_and_training_time()

    def _check_search_and_target(self) -> None:
        if self.batch_sizes and self.exact:
            raise ConfigError("{exact} searches between powers of two; drop {batch_sizes}")
        if self.recheck and not self.exact:
            raise ConfigError("{recheck} re-runs the boundary {exact} finds; add {exact}")
        if self.target is not None and not self.predict:
            raise ConfigError("{device_memory} and {gpu} describe a target for {predict}")
        if self.threads is not None:
            _positive("threads", self.threads)

    def _check_timing_and_training_time(self) -> None:
        if self.min_time_s is not None and self.min_time_s <= 0:
            raise ConfigError("{min_time} must be positive, got {value}", value=self.min_time_s)
        if self.trial_timeout_s <= 0:
            raise ConfigError("{trial_timeout} must be positive, got {value}",
                              value=self.trial_timeout_s)  # fmt: skip
        if (self.dataset_size is None) != (self.epochs is None):
            raise ConfigError("training time needs both {dataset_size} and {epochs}")
        if self.dataset_size is not None and self.epochs is not None:
            _positive("dataset_size", self.dataset_size)
            _positive("epochs", self.epochs)

    @property
    def seq_len(self) -> int | None:
        """The one sequence length of a single-length sweep (None: the model file's batch)."""
        if len(self.seq_lens) > 1:
            raise ValueError("a sweep over several sequence lengths has no single seq_len")
        return self.seq_lens[0] if self.seq_lens else None

    @property
    def distributed(self) -> bool:
        """Measured trials run as torch.distributed ranks (through torchrun): several ranks, or
        FSDP on one (shards of 1 still bring FSDP2's gather and reduce buffers)."""
        return self.world_size > 1 or self.strategy is Strategy.FSDP

    @property
    def doubling_sizes(self) -> tuple[int, ...]:
        """min_batch, 2 x min_batch, ... up to max_batch (the doubling plan)."""
        sizes, size = [], self.min_batch
        while size <= self.max_batch:
            sizes.append(size)
            size *= 2
        return tuple(sizes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["device"] = str(self.device)
        data["mode"] = self.mode.value
        data["precision"] = self.precision.value
        data["batch_sizes"] = list(self.batch_sizes)
        data["seq_lens"] = list(self.seq_lens)
        data["task"] = None if self.task is None else self.task.value
        data["optimizer_name"] = None if self.optimizer_name is None else self.optimizer_name.value
        data["strategy"] = self.strategy.value
        extra = data.pop("extra")
        data.pop("training")
        data["target"] = None if self.target is None else self.target.to_dict()
        training = {} if self.training is None else self.training.to_dict()
        return {**data, **training, **extra}


# The keys TrainingSetup.to_dict writes into a config (see SweepConfig.to_dict).
_TRAINING_KEYS = ("optimizer", "loss", "parameters", "compiled", "setup_note", "training_options")


def config_from_dict(data: Mapping[str, Any]) -> SweepConfig:
    """Rebuild the configuration a result JSON was made with (``bsprof check`` reruns it);
    keys this bsprof does not know are kept in ``extra``. Raises ConfigError for a value no
    sweep could have run with."""
    names = {f.name for f in fields(SweepConfig)}
    known = names - {"extra", "target", "training"}
    values = {k: v for k, v in data.items() if k in known}
    values.setdefault("model", "unknown")  # a file written by hand or by an older bsprof
    values["device"] = Device.parse(str(values.get("device", "auto")))
    values["mode"] = Mode(values.get("mode", "train"))
    values["precision"] = Precision(values.get("precision", "fp32"))
    values["batch_sizes"] = tuple(values.get("batch_sizes") or ())
    values["seq_lens"] = tuple(values.get("seq_lens") or ())
    values["task"] = None if values.get("task") is None else Task(values["task"])
    name = values.get("optimizer_name")
    values["optimizer_name"] = None if name is None else OptimizerName(name)
    values["strategy"] = Strategy(values.get("strategy", "ddp"))
    target = data.get("target")
    training = TrainingSetup.from_dict(data) if isinstance(data.get("optimizer"), Mapping) else None
    extra = {
        k: v
        for k, v in data.items()
        if k not in names and (training is None or k not in _TRAINING_KEYS)
    }
    return SweepConfig(
        **values,
        target=None if not target else device_model_from_dict(target),
        training=training,
        extra=extra,
    )


_INTEGERS = ("min_batch", "max_batch", "warmup", "iters", "memory_limit_bytes", "threads",
             "dataset_size", "epochs", "world_size", "lora_rank")  # fmt: skip
_NUMBERS = ("min_time_s", "trial_timeout_s")
_BOOLEANS = ("exact", "recheck", "drop_last", "oversubscribe", "predict", "guide",
             "grad_checkpointing", "self_check")  # fmt: skip
# The settings' names as the API and the errors give them.
_SETTING = {"world_size": "nproc", "memory_limit_bytes": "memory_limit", "min_time_s": "min_time",
            "trial_timeout_s": "trial_timeout", "lora_rank": "lora", "seq_lens": "seq_len",
            "optimizer_name": "optimizer"}  # fmt: skip


def _check_types(values: Mapping[str, Any]) -> None:
    """Each setting has the type a sweep needs, whoever gave it: the API (``min_batch=True``),
    a hand-edited JSON (``"dataset_size": "60000"``); NaN, infinity and sizes beyond any
    machine are refused too."""
    for name, value in values.items():
        setting = "{" + _SETTING.get(name, name) + "}"
        if value is None:
            continue
        if name in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(setting + " must be an integer, got {value!r}", value=value)
        if name in _NUMBERS and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value > MAX_SECONDS
        ):
            raise ConfigError(setting + " must be seconds, at most a year, got {value!r}",
                              value=value)  # fmt: skip
        if name == "memory_limit_bytes" and value > MAX_BYTES:
            raise ConfigError(setting + " {value} is beyond any machine (at most 1 EiB)",
                              value=value)  # fmt: skip
        if name in _BOOLEANS and not isinstance(value, bool):
            raise ConfigError(setting + " must be true or false, got {value!r}", value=value)
    for name in ("batch_sizes", "seq_lens"):
        if name in values and not all(
            isinstance(size, int) and not isinstance(size, bool) for size in values[name]
        ):
            raise ConfigError("{" + _SETTING.get(name, name) + "} must be integers, got {value!r}",
                              value=values[name])  # fmt: skip


def _positive(setting: str, value: int) -> None:
    if value < 1:
        raise ConfigError("{" + setting + "} must be a positive integer, got {value}", value=value)

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


class Mode(str, Enum):
    TRAIN = "train"  # forward, loss, backward, optimizer step, zero_grad
    EVAL = "eval"  # forward only, under torch.inference_mode()


class Precision(str, Enum):
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


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
    guide: bool = True  # a measured sweep predicts first to steer its search
    target: DeviceModel | None = None  # the device a prediction is for (--device-memory/--gpu)
    training: TrainingSetup | None = None  # what the model file's loop is made of (probed)
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
        self._check_search_and_target()
        self._check_timing_and_training_time()

    def _check_search_and_target(self) -> None:
        if self.batch_sizes and self.exact:
            raise ConfigError("{exact} searches between powers of two; drop {batch_sizes}")
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
        extra = data.pop("extra")
        data.pop("training")
        data["target"] = None if self.target is None else self.target.to_dict()
        training = {} if self.training is None else self.training.to_dict()
        return {**data, **training, **extra}


# The keys TrainingSetup.to_dict writes into a config (see SweepConfig.to_dict).
_TRAINING_KEYS = ("optimizer", "loss", "parameters", "compiled", "setup_note")


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
             "dataset_size", "epochs", "world_size")  # fmt: skip
_NUMBERS = ("min_time_s", "trial_timeout_s")
_BOOLEANS = ("exact", "drop_last", "oversubscribe", "predict", "guide")
# The settings' names as the API and the errors give them.
_SETTING = {"world_size": "nproc", "memory_limit_bytes": "memory_limit", "min_time_s": "min_time",
            "trial_timeout_s": "trial_timeout"}  # fmt: skip


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
    if "batch_sizes" in values and not all(
        isinstance(size, int) and not isinstance(size, bool) for size in values["batch_sizes"]
    ):
        raise ConfigError("{batch_sizes} must be integers, got {value!r}",
                          value=values["batch_sizes"])  # fmt: skip


def _positive(setting: str, value: int) -> None:
    if value < 1:
        raise ConfigError("{" + setting + "} must be a positive integer, got {value}", value=value)

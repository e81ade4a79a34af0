"""Options that ``sweep`` and ``check`` share: each declared once here, with its help and panel.

Every option that changes what is measured is here, so a ``check`` baseline can be saved with
anything a sweep can run (``--mode``, ``--precision``, ``--memory-limit``, ``--nproc``, ...),
and both commands build their SweepConfig with ``measurement_config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

import typer

from bsprof.cli.app import parse_int_list
from bsprof.config import (
    DEFAULT_ITERS,
    DEFAULT_WARMUP,
    Mode,
    Precision,
    SweepConfig,
)
from bsprof.device import Device as DeviceValue
from bsprof.gpus import DEFAULT_HEADROOM, DEFAULT_MFU, device_model
from bsprof.model_setup import OptimizerName, Strategy, Task
from bsprof.units import parse_duration, parse_size

DEVICE, TRAINING, TIMING, MEMORY, SEARCH, PREDICTION, PARALLEL = (
    "Device",
    "How you train",
    "Timing",
    "Memory",
    "Search",
    "Prediction",
    "Data parallel",
)

Device = Annotated[
    str,
    typer.Option(help="auto, cpu, cuda or cuda:N (auto: CUDA if present).", rich_help_panel=DEVICE),
]
ModeOption = Annotated[
    Mode,
    typer.Option(
        "--mode",
        case_sensitive=False,
        help="train: forward, loss, backward, optimizer step; eval: forward only.",
        rich_help_panel=DEVICE,
    ),
]
PrecisionOption = Annotated[
    Precision,
    typer.Option(
        "--precision",
        case_sensitive=False,
        help="fp32; bf16/fp16 autocast (fp32 weights; a GradScaler for fp16 on CUDA); "
        "bf16-true/fp16-true: weights, gradients and optimizer state in that dtype.",
        rich_help_panel=TRAINING,
    ),
]
SeqLen = Annotated[
    list[str] | None,
    typer.Option(
        "--seq-len",
        help="Sequence lengths, a sweep for each: 512,2048 (repeatable). The model file's "
        "make_batch(batch_size, seq_len) gets each; hf: models make token batches of it.",
        show_default=False,
        rich_help_panel=TRAINING,
    ),
]
TaskOption = Annotated[
    Task | None,
    typer.Option(
        "--task",
        case_sensitive=False,
        help="hf: models: the head and batch to train. (default: from the config's "
        "architectures; causal-lm if none)",
        show_default=False,
        rich_help_panel=TRAINING,
    ),
]
Lora = Annotated[
    int | None,
    typer.Option(
        "--lora",
        min=1,
        metavar="RANK",
        help="Train LoRA adapters of this rank (peft) on the usual target modules; the base "
        "model frozen.",
        show_default=False,
        rich_help_panel=TRAINING,
    ),
]
GradCheckpointing = Annotated[
    bool,
    typer.Option(
        "--grad-checkpointing",
        help="Recompute activations in backward: gradient_checkpointing_enable() for HF models, "
        "torch.utils.checkpoint per top-level block otherwise.",
        rich_help_panel=TRAINING,
    ),
]
OptimizerOption = Annotated[
    OptimizerName | None,
    typer.Option(
        "--optimizer",
        case_sensitive=False,
        help="torch's optimizer when the model file defines no build_optimizer. (default: adamw)",
        show_default=False,
        rich_help_panel=TRAINING,
    ),
]
StrategyOption = Annotated[
    Strategy,
    typer.Option(
        "--strategy",
        case_sensitive=False,
        help="With --nproc: ddp (every rank holds the whole model) or fsdp (FSDP2 fully_shard "
        "per block: parameters, gradients and optimizer state split across ranks).",
        rich_help_panel=PARALLEL,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="torch intra-op threads per trial. (default: torch's)",
        show_default=False,
        rich_help_panel=DEVICE,
    ),
]
BatchSizes = Annotated[
    list[str] | None,
    typer.Option(
        "--batch-sizes",
        help="Explicit batch sizes instead of doubling: 8,16,32 (repeatable).",
        show_default=False,
        rich_help_panel=SEARCH,
    ),
]
Warmup = Annotated[
    int, typer.Option(min=0, help="Untimed iterations before timing.", rich_help_panel=TIMING)
]
Iters = Annotated[
    int, typer.Option(min=1, help="Timed iterations per batch size.", rich_help_panel=TIMING)
]
MinTime = Annotated[
    str | None,
    typer.Option(
        help="Keep timing until this much time has passed too (2s, 500ms).",
        show_default=False,
        rich_help_panel=TIMING,
    ),
]
TrialTimeout = Annotated[
    str, typer.Option(help="A trial running longer is a crash.", rich_help_panel=TIMING)
]
MemoryLimit = Annotated[
    str | None,
    typer.Option(
        help="Memory cap per trial (512MiB, 24GB). CUDA: a fraction of the GPU; CPU: address "
        "space. (default: CUDA the whole GPU; CPU 80% of available RAM)",
        show_default=False,
        rich_help_panel=MEMORY,
    ),
]
Nproc = Annotated[
    int,
    typer.Option(
        "--nproc",
        min=1,
        help="Data-parallel processes per trial, through torchrun with DistributedDataParallel "
        "(gloo on CPU, nccl on CUDA). Batch sizes are per device.",
        rich_help_panel=PARALLEL,
    ),
]
Oversubscribe = Annotated[
    bool,
    typer.Option(
        "--oversubscribe",
        help="With --nproc: allow more ranks than GPUs (CUDA) or CPU cores (CPU).",
        rich_help_panel=PARALLEL,
    ),
]
Predict = Annotated[
    bool,
    typer.Option(
        "--predict",
        help="Predict memory and FLOPs on fake tensors instead of running: seconds, any machine.",
        rich_help_panel=PREDICTION,
    ),
]
SelfCheck = Annotated[
    bool,
    typer.Option(
        "--self-check/--no-self-check",
        help="Check the prediction against one real CPU iteration at the smallest batch "
        "(skipped when that needs over 2 GiB or a quarter of the RAM).",
        rich_help_panel=PREDICTION,
    ),
]
DeviceMemory = Annotated[
    str | None,
    typer.Option(
        "--device-memory",
        help="With --predict: the target GPU's memory (80GiB); the largest batch that fits it.",
        show_default=False,
        rich_help_panel=PREDICTION,
    ),
]
Gpu = Annotated[
    str | None,
    typer.Option(
        "--gpu",
        help="With --predict: a known GPU (h100, h200, a100-80gb, a100-40gb, l40s, a10, l4, "
        "rtx4090, v100-32gb, t4): its memory and peak FLOP/s.",
        show_default=False,
        rich_help_panel=PREDICTION,
    ),
]
Headroom = Annotated[
    float,
    typer.Option(
        help="With --predict: fragmentation headroom of the allocator model.",
        rich_help_panel=PREDICTION,
    ),
]
ContextReserve = Annotated[
    str,
    typer.Option(help="With --predict: memory the CUDA context takes.", rich_help_panel=PREDICTION),
]
Mfu = Annotated[
    float,
    typer.Option(
        help="With --predict --gpu: assumed utilisation for the time estimate.",
        rich_help_panel=PREDICTION,
    ),
]

E = TypeVar("E", Mode, Precision, Task, OptimizerName, Strategy)


def _choice(enum: type[E], value: object) -> E:
    return value if isinstance(value, enum) else enum(str(value).lower())


DEFAULT_DEVICE = "auto"
DEFAULT_TRIAL_TIMEOUT = "300s"
DEFAULT_CONTEXT_RESERVE = "500MiB"
__all__ = ["DEFAULT_HEADROOM", "DEFAULT_ITERS", "DEFAULT_MFU", "DEFAULT_WARMUP"]


@dataclass(frozen=True)
class Measurement:
    """The shared options' values, as given on the command line."""

    device: str = DEFAULT_DEVICE
    mode: Mode = Mode.TRAIN
    precision: Precision = Precision.FP32
    batch_sizes: tuple[int, ...] = ()
    warmup: int = DEFAULT_WARMUP
    iters: int = DEFAULT_ITERS
    min_time: str | None = None
    memory_limit: str | None = None
    trial_timeout: str = DEFAULT_TRIAL_TIMEOUT
    threads: int | None = None
    nproc: int = 1
    oversubscribe: bool = False
    predict: bool = False
    device_memory: str | None = None
    gpu: str | None = None
    headroom: float = DEFAULT_HEADROOM
    context_reserve: str = DEFAULT_CONTEXT_RESERVE
    mfu: float = DEFAULT_MFU
    seq_len: tuple[int, ...] = ()
    task: Task | None = None
    lora: int | None = None
    grad_checkpointing: bool = False
    optimizer: OptimizerName | None = None
    strategy: Strategy = Strategy.DDP
    self_check: bool = True

    @staticmethod
    def parse_batch_sizes(values: list[str] | None) -> tuple[int, ...]:
        return parse_int_list(values, "--batch-sizes")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **overrides: Any) -> Measurement:
        """The shared options' values from a command's parsed parameters (``ctx.params``)."""
        values = {f.name: params[f.name] for f in fields(cls) if f.name in params}
        values["batch_sizes"] = cls.parse_batch_sizes(params.get("batch_sizes"))
        # click keeps a choice's text in ctx.params; typer converts only the arguments it passes
        values["mode"] = _choice(Mode, values.get("mode", Mode.TRAIN))
        values["precision"] = _choice(Precision, values.get("precision", Precision.FP32))
        values["seq_len"] = parse_int_list(params.get("seq_len"), "--seq-len")
        values["strategy"] = _choice(Strategy, values.get("strategy", Strategy.DDP))
        if values.get("task") is not None:
            values["task"] = _choice(Task, values["task"])
        if values.get("optimizer") is not None:
            values["optimizer"] = _choice(OptimizerName, values["optimizer"])
        return cls(**{**values, **overrides})

    def config(self, model: str) -> SweepConfig:
        """The SweepConfig these options describe; a command adds its own search settings."""
        target = device_model(
            None if self.device_memory is None else parse_size(self.device_memory, "device_memory"),
            self.gpu,
            parse_size(self.context_reserve, "context_reserve"),
            self.headroom,
            self.mfu,
        )
        return SweepConfig(
            model=model,
            device=DeviceValue.parse(self.device),
            mode=self.mode,
            precision=self.precision,
            batch_sizes=self.batch_sizes,
            warmup=self.warmup,
            iters=self.iters,
            min_time_s=None if self.min_time is None else parse_duration(self.min_time, "min_time"),
            memory_limit_bytes=(
                None if self.memory_limit is None else parse_size(self.memory_limit, "memory_limit")
            ),
            trial_timeout_s=parse_duration(self.trial_timeout, "trial_timeout"),
            threads=self.threads,
            world_size=self.nproc,
            oversubscribe=self.oversubscribe,
            predict=self.predict,
            target=target,
            seq_lens=self.seq_len,
            task=self.task,
            lora_rank=self.lora,
            grad_checkpointing=self.grad_checkpointing,
            optimizer_name=self.optimizer,
            strategy=self.strategy,
            self_check=self.self_check,
        )

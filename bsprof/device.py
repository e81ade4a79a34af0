"""The device a sweep runs on, parsed once from its text (``auto``, ``cpu``, ``cuda``,
``cuda:N``) into a value; its ``str`` is that text again. No torch here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from bsprof.errors import ConfigError

_TEXT = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


class DeviceKind(str, Enum):
    AUTO = "auto"  # CUDA when torch sees a GPU, else the CPU (resolved in a worker)
    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class Device:
    kind: DeviceKind
    index: int | None = None  # cuda:N; None: the current CUDA device

    @classmethod
    def parse(cls, text: str) -> Device:
        match = _TEXT.match(text.strip().lower()) if isinstance(text, str) else None
        if match is None or (match[2] is not None and match[1] != "cuda"):
            raise ConfigError("{device} must be auto, cpu, cuda or cuda:N, got {value!r}",
                              value=text)  # fmt: skip
        return cls(DeviceKind(match[1]), None if match[2] is None else int(match[2]))

    @property
    def is_auto(self) -> bool:
        return self.kind is DeviceKind.AUTO

    @property
    def is_cpu(self) -> bool:
        return self.kind is DeviceKind.CPU

    @property
    def is_cuda(self) -> bool:
        return self.kind is DeviceKind.CUDA

    @property
    def cuda_index(self) -> int:
        """The GPU's index among those CUDA sees (0 for plain ``cuda``)."""
        return self.index or 0

    def __str__(self) -> str:
        return self.kind.value if self.index is None else f"{self.kind.value}:{self.index}"


AUTO = Device(DeviceKind.AUTO)
CPU = Device(DeviceKind.CPU)
CUDA = Device(DeviceKind.CUDA)

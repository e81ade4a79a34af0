"""Render ``bsprof env``: what a sweep would see, one labelled line per fact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bsprof.report.common import wrap_text
from bsprof.units import format_bytes

if TYPE_CHECKING:
    from bsprof.environment import Environment

NOT_AVAILABLE = "not available"
_GAP = 2  # characters between a label and its value


def _text(value: object) -> str:
    return NOT_AVAILABLE if value is None or value == "" else str(value)


def _bytes(value: object) -> str:
    return format_bytes(value) if isinstance(value, int) else NOT_AVAILABLE


def _cuda_line(env: Environment) -> str:
    version, available = env.cuda, env.cuda_available
    if version is None:
        return f"{NOT_AVAILABLE} (this torch is built without CUDA)"
    if available is True:
        return str(version)
    if available is False:
        return f"{NOT_AVAILABLE} (torch built for CUDA {version}; no usable GPU or driver)"
    return f"torch built for CUDA {version} (not checked: --device cpu)"


def _gpu_lines(env: Environment) -> list[str]:
    if not env.gpus:
        unasked = env.cuda is not None and env.cuda_available is None
        return ["not checked" if unasked else "none"]
    return [
        f"cuda:{gpu.index}  {_text(gpu.name)}, {_bytes(gpu.memory_total_bytes)}" for gpu in env.gpus
    ]


def _nvml_gpu_lines(env: Environment) -> list[str]:
    return [
        f"{gpu.index}: {_text(gpu.name)}, {_bytes(gpu.memory_used_bytes)} "
        f"used of {_bytes(gpu.memory_total_bytes)}  {_text(gpu.uuid)}"
        for gpu in env.nvml_gpus
    ]


def _cpu_line(env: Environment) -> str:
    return f"{_text(env.cpu_count)} logical CPUs; torch threads {_text(env.torch_threads)}"


def _ram_line(env: Environment) -> str:
    available, total = env.ram_available_bytes, env.ram_total_bytes
    if available is None and total is None:
        return NOT_AVAILABLE
    return f"{_bytes(available)} available of {_bytes(total)}"


def render_env(env: Environment, console: Console) -> None:
    rows: list[tuple[str, str]] = [
        ("Host", f"{_text(env.host)} ({_text(env.platform)})"),
        ("Python", _text(env.python)),
        ("bsprof", _text(env.bsprof)),
        ("torch", _text(env.torch)),
        ("CUDA", _cuda_line(env)),
        ("cuDNN", _text(env.cudnn)),
    ]
    rows += [("GPUs" if i == 0 else "", line) for i, line in enumerate(_gpu_lines(env))]
    rows.append(("NVML", _text(env.nvml)))
    rows += [("NVML GPUs" if i == 0 else "", ln) for i, ln in enumerate(_nvml_gpu_lines(env))]
    rows += [("CPU", _cpu_line(env)), ("RAM", _ram_line(env)), ("Device", _text(env.device))]
    console.print(_grid(rows, console.width))


def _grid(rows: list[tuple[str, str]], width: int) -> Table:
    """Labels, then values wrapped to the room beside them with no figure split."""
    room = width - max(len(label) for label, _ in rows) - _GAP
    table = Table.grid(padding=(0, _GAP))
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        # Text, not a markup string: a GPU name or a path with [brackets] must print as is.
        table.add_row(Text(label), Text(wrap_text(value, room)))
    return table

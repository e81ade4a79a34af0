"""Render ``bsprof env``: what a sweep would see, one labelled line per fact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bsprof.report.common import wrap_text
from bsprof.units import format_bytes

NOT_AVAILABLE = "not available"
_GAP = 2  # characters between a label and its value


def _text(value: object) -> str:
    return NOT_AVAILABLE if value is None or value == "" else str(value)


def _bytes(value: object) -> str:
    return format_bytes(value) if isinstance(value, int) else NOT_AVAILABLE


def _entries(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def _cuda_line(env: Mapping[str, object]) -> str:
    version, available = env.get("cuda"), env.get("cuda_available")
    if version is None:
        return f"{NOT_AVAILABLE} (this torch is built without CUDA)"
    if available is True:
        return str(version)
    if available is False:
        return f"{NOT_AVAILABLE} (torch built for CUDA {version}; no usable GPU or driver)"
    return f"torch built for CUDA {version} (not checked: --device cpu)"


def _gpu_lines(env: Mapping[str, object]) -> list[str]:
    gpus = _entries(env.get("gpus"))
    if not gpus:
        unasked = env.get("cuda") is not None and env.get("cuda_available") is None
        return ["not checked" if unasked else "none"]
    return [
        f"cuda:{gpu.get('index')}  {_text(gpu.get('name'))}, "
        f"{_bytes(gpu.get('memory_total_bytes'))}"
        for gpu in gpus
    ]


def _nvml_gpu_lines(env: Mapping[str, object]) -> list[str]:
    return [
        f"{gpu.get('index')}: {_text(gpu.get('name'))}, {_bytes(gpu.get('memory_used_bytes'))} "
        f"used of {_bytes(gpu.get('memory_total_bytes'))}  {_text(gpu.get('uuid'))}"
        for gpu in _entries(env.get("nvml_gpus"))
    ]


def _cpu_line(env: Mapping[str, object]) -> str:
    cpus, threads = _text(env.get("cpu_count")), _text(env.get("torch_threads"))
    return f"{cpus} logical CPUs; torch threads {threads}"


def _ram_line(env: Mapping[str, object]) -> str:
    available, total = env.get("ram_available_bytes"), env.get("ram_total_bytes")
    if available is None and total is None:
        return NOT_AVAILABLE
    return f"{_bytes(available)} available of {_bytes(total)}"


def render_env(env: Mapping[str, object], console: Console) -> None:
    rows: list[tuple[str, str]] = [
        ("Host", f"{_text(env.get('host'))} ({_text(env.get('platform'))})"),
        ("Python", _text(env.get("python"))),
        ("bsprof", _text(env.get("bsprof"))),
        ("torch", _text(env.get("torch"))),
        ("CUDA", _cuda_line(env)),
        ("cuDNN", _text(env.get("cudnn"))),
    ]
    rows += [("GPUs" if i == 0 else "", line) for i, line in enumerate(_gpu_lines(env))]
    rows.append(("NVML", _text(env.get("nvml"))))
    rows += [("NVML GPUs" if i == 0 else "", ln) for i, ln in enumerate(_nvml_gpu_lines(env))]
    rows += [
        ("CPU", _cpu_line(env)),
        ("RAM", _ram_line(env)),
        ("Device", _text(env.get("device"))),
    ]
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

"""Parse and format sizes (``80GiB``, ``512MiB``), durations (``12ms``, ``1.5s``) and counts."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator

from bsprof.errors import ConfigError, UsageError

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

_DURATION_UNITS: dict[str, float] = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}

MAX_BYTES = 2**60  # 1 EiB: more than any machine, and well inside int64 (setrlimit, CUDA)
MAX_SECONDS = 365 * 24 * 3600.0  # a year: longer times per iteration are typos or overflow

_NUMBER_WITH_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ]*)\s*$")


def _split(text: str, what: str, examples: str) -> tuple[float, str]:
    match = _NUMBER_WITH_UNIT.match(text)
    if match is None:
        raise UsageError(
            f"cannot read {what} {text!r}: expected a number with a unit, e.g. {examples}"
        )
    return float(match.group(1)), match.group(2).lower()


def parse_size(text: str, setting: str | None = None) -> int:
    """Bytes from ``80GiB``, ``512MiB``, ``24GB`` (decimal) or a plain byte count; an error
    names ``setting`` (a ConfigError) when given."""
    with _naming(setting):
        return _parse_size(text)


def parse_duration(text: str, setting: str | None = None) -> float:
    """Seconds from ``0.012``, ``12ms``, ``1.5s``, ``250us``, ``2min``; an error names
    ``setting`` (a ConfigError) when given."""
    with _naming(setting):
        return _parse_duration(text)


@contextlib.contextmanager
def _naming(setting: str | None) -> Iterator[None]:
    try:
        yield
    except UsageError as exc:
        if setting is None or isinstance(exc, ConfigError):
            raise
        raise ConfigError("{" + setting + "}: {problem}", problem=exc.message) from None


def _parse_size(text: str) -> int:
    if not isinstance(text, str):
        raise UsageError(f"expected a size such as 24GiB, got {text!r}")
    number, unit = _split(text, "size", "80GiB, 512MiB, 24GB")
    if unit not in _SIZE_UNITS:
        known = ", ".join(u for u in _SIZE_UNITS if u)
        raise UsageError(f"unknown size unit {unit!r} in {text!r} (known: {known})")
    value = number * _SIZE_UNITS[unit]
    if not math.isfinite(value) or value > MAX_BYTES:
        raise UsageError(f"size {text!r} is beyond any machine (at most 1 EiB)")
    size = int(value)
    if size <= 0:
        raise UsageError(f"size must be positive, got {text!r}")
    return size


def _parse_duration(text: str) -> float:
    if not isinstance(text, str):
        raise UsageError(f"expected a duration such as 2s, got {text!r}")
    number, unit = _split(text, "duration", "0.012, 12ms, 1.5s")
    if unit not in _DURATION_UNITS:
        known = ", ".join(u for u in _DURATION_UNITS if u)
        raise UsageError(f"unknown time unit {unit!r} in {text!r} (known: {known})")
    seconds = number * _DURATION_UNITS[unit]
    if seconds <= 0 or not math.isfinite(seconds):
        raise UsageError(f"duration must be positive, got {text!r}")
    if seconds > MAX_SECONDS:
        raise UsageError(f"duration {text!r} is longer than a year; give a realistic one")
    return seconds


def format_bytes(size: float | None) -> str:
    """``1.50 GiB``; binary units, as PyTorch and nvidia-smi report memory."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def format_duration(seconds: float | None) -> str:
    """Human time: ``850 us``, ``12.3 ms``, ``4.69 s``, ``3m 05s``, ``2h 13m``, ``3d 04h``."""
    if seconds is None:
        return "-"
    # Compare after rounding, so 0.9999 ms reads "1.0 ms", not "1000 us".
    if round(seconds * 1e6) < 1000:
        return f"{seconds * 1e6:.0f} us"
    if round(seconds * 1e3, 1) < 1000:
        return f"{seconds * 1e3:.1f} ms"
    if round(seconds, 2) < 60:
        return f"{seconds:.2f} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def format_count(value: int) -> str:
    """``4,690``."""
    return f"{value:,}"


def format_number(value: float) -> str:
    """Three significant figures, without an exponent for everyday sizes: 21.3, 1,450, 0.0123."""
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
        return f"{value:.3g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"

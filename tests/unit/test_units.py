from __future__ import annotations

import pytest

from bsprof.errors import UsageError
from bsprof.units import format_bytes, format_count, format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80GiB", 80 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("512mib", 512 * 1024**2),
        ("24GB", 24 * 10**9),
        ("1.5 GiB", int(1.5 * 1024**3)),
        ("4096", 4096),
        ("64KiB", 65536),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "12 parsecs", "-5GiB", "0"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.012", 0.012), ("12ms", 0.012), ("1.5s", 1.5), ("250us", 250e-6), ("2min", 120.0)],
)
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["fast", "0", "0ms", "-1s", "3 fortnights"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.00085, "850 us"),
        (0.0123, "12.3 ms"),
        (4.69, "4.69 s"),
        (185, "3m 05s"),
        (7980, "2h 13m"),
        (273600, "3d 04h"),
        (None, "-"),
        (0.0009999, "1.0 ms"),
        (0.99996, "1.00 s"),
        (59.996, "1m 00s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_bytes_and_count() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536 * 1024**2) == "1.5 GiB"
    assert format_bytes(None) == "-"
    assert format_count(4690) == "4,690"

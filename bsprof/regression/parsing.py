"""Threshold expressions as a user types them (``peak_memory:+2%``), parsed into Thresholds.

This is the one module of the package that reads user input, so it is the one whose errors
name the setting the expression came from (``fail_on``; the CLI says ``--fail-on``): every
error is a ConfigError (exit 2) that quotes the expression, says what is wrong and lists the
accepted forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bsprof.errors import ConfigError, UsageError
from bsprof.regression.metrics import METRICS, Kind, Metric
from bsprof.regression.thresholds import Threshold
from bsprof.units import parse_duration, parse_size

ACCEPTED_FORMS = (
    "accepted: METRIC:+N% or METRIC:-N% (signed in the metric's worse direction), "
    "peak_memory|predicted_peak|device_memory:+SIZE (e.g. +64MiB), time_per_iter:+DURATION "
    "(e.g. +12ms), largest_batch:-N (a whole number; -1 fails on any drop); metrics: "
    + ", ".join(f"{m.name} ({m.worse_sign})" for m in METRICS.values())
)

_EXPRESSION = re.compile(r"^\s*([A-Za-z_-]+)\s*:\s*([+-]?)\s*(\S.*?)\s*$")
_PLAIN_NUMBER = re.compile(r"^[0-9]*\.?[0-9]+$")
_HAS_UNIT = re.compile(r"[A-Za-zµ]\s*$")


def parse_threshold(text: str) -> Threshold:
    """One ``fail_on`` expression; a ConfigError (exit 2) listing the accepted forms if bad.

    An unsigned limit (``peak_memory:2%``) is read in the metric's worse direction; a sign
    against it (``throughput:+10%``) is an error, as it would never fire.
    """
    match = _EXPRESSION.match(text) if isinstance(text, str) else None
    if match is None:
        raise _usage(text, "expected METRIC:LIMIT")
    name = match.group(1).lower().replace("-", "_")
    metric = METRICS.get(name)
    if metric is None:
        raise _usage(text, f"unknown metric {name!r}")
    sign, limit = match.group(2), match.group(3)
    if sign and sign != metric.worse_sign:
        raise _usage(text, _direction_hint(metric))
    return _parse_limit(text, metric, limit)


def _usage(text: str, why: str) -> ConfigError:
    return ConfigError(
        "{fail_on} {text!r}: {why}; {forms}", text=text, why=why, forms=ACCEPTED_FORMS
    )


def _direction_hint(metric: Metric) -> str:
    way, worse = ("upward", "higher") if metric.higher_is_worse else ("downward", "lower")
    return (
        f"{metric.name} regresses {way} ({worse} is worse), so its limit is written "
        f"{metric.worse_sign}N, e.g. {metric.example}"
    )


def _parse_limit(text: str, metric: Metric, limit: str) -> Threshold:
    if limit.endswith("%"):
        return Threshold(metric.name, relative=_percent(text, metric, limit[:-1].strip()))
    if metric.kind is Kind.BYTES:
        return Threshold(metric.name, absolute=float(_size(text, metric, limit)))
    if metric.kind is Kind.SECONDS:
        return Threshold(metric.name, absolute=_duration(text, metric, limit))
    if metric.kind is Kind.BATCH:
        return Threshold(metric.name, absolute=float(_batches(text, limit)))
    raise _usage(text, f"{metric.name} takes a percentage, e.g. {metric.example}")


def _percent(text: str, metric: Metric, number: str) -> float:
    if _PLAIN_NUMBER.match(number) is None:
        raise _usage(text, f"{number!r}% is not a number")
    fraction = float(number) / 100
    if not metric.higher_is_worse and fraction >= 1:
        raise _usage(text, f"{metric.name} cannot drop by 100% or more: the limit never fires")
    return fraction


def _size(text: str, metric: Metric, limit: str) -> int:
    try:
        return parse_size(limit)
    except UsageError as exc:
        if _parses(parse_duration, limit):
            raise _usage(text, f"{limit} is a duration; {metric.name} takes +N% or +SIZE") from None
        raise _usage(text, exc.message) from None


def _duration(text: str, metric: Metric, limit: str) -> float:
    if _HAS_UNIT.search(limit) is None:  # "+5" is 5 s or 5%? Ask rather than guess.
        raise _usage(text, f"{metric.name} takes +N% or a duration with a unit, e.g. +12ms")
    try:
        return parse_duration(limit)
    except UsageError as exc:
        if _parses(parse_size, limit):
            raise _usage(
                text, f"{limit} is a size, for memory metrics; {metric.name} takes +N% or +12ms"
            ) from None
        raise _usage(text, exc.message) from None


def _batches(text: str, limit: str) -> int:
    if not limit.isdigit() or int(limit) < 1:
        raise _usage(text, "largest_batch takes -N (a whole number, at least 1) or -N%")
    return int(limit)


def _parses(parser: Callable[[str], object], text: str) -> bool:
    try:
        parser(text)
    except UsageError:
        return False
    return True

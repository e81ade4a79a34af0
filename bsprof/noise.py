"""The gradient noise scale from gradients' squared norms (McCandlish et al. 2018, "An Empirical
Model of Large-Batch Training", Appendix A). No torch here: ``bsprof plan --noise-scale`` reads
the JSON (``read_noise_scale``) without loading a model.

K gradients at a small batch b are grouped k at a time; a group's mean is the gradient at the big
batch B = b x k (the loss being a mean over the batch). With the mean squared norms |g_b|^2 over
the K small gradients and |g_B|^2 over the K/k groups (numerator and denominator averaged
separately, as Appendix A does, so the ratio is not a mean of noisy ratios):

- |G|^2 estimate = (B |g_B|^2 - b |g_b|^2) / (B - b)
- tr(Sigma) estimate S = (|g_b|^2 - |g_B|^2) / (1/b - 1/B)
- B_noise = S / |G|^2

A |G|^2 estimate <= 0 means the true gradient is lost in the noise at this many gradients:
B_noise is then not resolved (None), never a negative number.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsprof.device import AUTO, Device
from bsprof.errors import ConfigError, InputFileError, UsageError
from bsprof.hf_models import is_hf_target
from bsprof.json_input import read_json_input
from bsprof.noise_text import (
    BATCH_DEPENDENT_NOTE,
    CRITICAL_BATCH_NOTE,
    FEW_GROUPS_WARNING,
    FRESH_SAMPLES_NOTE,
    HF_TARGET_REFUSED,
    MEAN_LOSS_NOTE,
    NO_NOISE_NOTE,
    NOT_RESOLVED,
    TRAINING_PROGRESS_NOTE,
)

SCHEMA_VERSION = 1
KIND = "noise"
DEFAULT_BATCH_SIZE = 8
DEFAULT_ACCUM = 8
DEFAULT_GRADIENTS = 256
MIN_TRUSTED_GROUPS = 16  # fewer groups: the percentile bootstrap's interval is too narrow
DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class NoiseRequest:
    """What ``bsprof noise`` measures, validated once for the CLI and the API."""

    model: str
    batch_size: int = DEFAULT_BATCH_SIZE
    accum: int = DEFAULT_ACCUM
    gradients: int = DEFAULT_GRADIENTS
    seed: int = 0
    device: Device = AUTO
    seq_len: int | None = None
    bootstrap: int = DEFAULT_BOOTSTRAP
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if is_hf_target(self.model):
            raise UsageError(HF_TARGET_REFUSED.format(model=self.model))
        _check_int("batch_size", self.batch_size, 1)
        _check_int("accum", self.accum, 2)
        _check_int("gradients", self.gradients, 1)
        _check_int("bootstrap", self.bootstrap, 1)
        _check_int("seed", self.seed, 0)
        if self.seq_len is not None:
            _check_int("seq_len", self.seq_len, 1)
        if self.gradients % self.accum or self.gradients // self.accum < 2:
            raise ConfigError(
                "{gradients} must be a multiple of {accum} with at least two groups (each group "
                "of k small gradients makes one big one): got {value} with k = {k}; try {good}",
                value=self.gradients,
                k=self.accum,
                good=max(2, round(self.gradients / self.accum)) * self.accum,
            )
        if isinstance(self.confidence, bool) or not 0 < self.confidence < 1:
            raise ConfigError(
                "{confidence} must be between 0 and 1, got {value!r}", value=self.confidence
            )

    @property
    def big_batch(self) -> int:
        return self.batch_size * self.accum


def _check_int(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(
            "{" + name + "} must be an integer of at least {least}, got {value!r}",
            least=least,
            value=value,
        )


@dataclass(frozen=True)
class GradientNorms:
    """The measured squared norms: one per small gradient, one per group of k (its mean)."""

    small_batch: int
    big_batch: int
    small_sq_norms: tuple[float, ...]
    big_sq_norms: tuple[float, ...]

    def __post_init__(self) -> None:
        accum, rest = divmod(self.big_batch, self.small_batch)
        if rest or accum < 2:
            raise ValueError(f"big batch {self.big_batch} is not k >= 2 small batches")
        if len(self.small_sq_norms) != accum * len(self.big_sq_norms) or len(self.big_sq_norms) < 2:
            raise ValueError(
                f"{len(self.small_sq_norms)} small and {len(self.big_sq_norms)} big norms are not "
                f"at least two groups of {accum}"
            )
        if not all(math.isfinite(v) and v >= 0 for v in (*self.small_sq_norms, *self.big_sq_norms)):
            raise ValueError("a squared norm is negative, NaN or infinite: no B_noise from it")

    @property
    def accum(self) -> int:
        return self.big_batch // self.small_batch

    @property
    def mean_small(self) -> float:
        """|g_b|^2 averaged over the K small gradients."""
        return math.fsum(self.small_sq_norms) / len(self.small_sq_norms)

    @property
    def mean_big(self) -> float:
        """|g_B|^2 averaged over the K / k groups."""
        return math.fsum(self.big_sq_norms) / len(self.big_sq_norms)

    def group_small_sums(self) -> list[float]:
        """Each group's k small squared norms, summed: what a bootstrap resamples with it."""
        k = self.accum
        return [
            math.fsum(self.small_sq_norms[i * k : (i + 1) * k])
            for i in range(len(self.big_sq_norms))
        ]


@dataclass(frozen=True)
class NoiseParts:
    """The two unbiased estimates of Appendix A and their ratio."""

    grad_sq_norm: float
    trace_sigma: float

    @property
    def b_noise(self) -> float | None:
        """S / |G|^2; None when |G|^2 <= 0 (not resolved); 0 when S <= 0 (no noise resolved)."""
        if not self.grad_sq_norm > 0:
            return None
        return max(0.0, self.trace_sigma / self.grad_sq_norm)


def noise_parts(small: int, big: int, mean_small: float, mean_big: float) -> NoiseParts:
    """|G|^2 and tr(Sigma) from the mean squared norms at batches ``small`` and ``big``."""
    return NoiseParts(
        grad_sq_norm=(big * mean_big - small * mean_small) / (big - small),
        trace_sigma=(mean_small - mean_big) / (1 / small - 1 / big),
    )


def estimate_parts(norms: GradientNorms) -> NoiseParts:
    return noise_parts(norms.small_batch, norms.big_batch, norms.mean_small, norms.mean_big)


def bootstrap_interval(
    norms: GradientNorms, confidence: float, resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """A percentile interval of B_noise over groups resampled with replacement (each group
    carries its k small norms and its big norm). A resample whose |G|^2 is <= 0 counts as an
    unbounded B_noise, so a bound that lands on one is None: not derivable."""
    rng = random.Random(seed)
    small_sums, bigs = norms.group_small_sums(), norms.big_sq_norms
    groups, k = len(bigs), norms.accum
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(groups) for _ in range(groups)]
        mean_small = math.fsum(small_sums[i] for i in picks) / (groups * k)
        mean_big = math.fsum(bigs[i] for i in picks) / groups
        ratio = noise_parts(norms.small_batch, norms.big_batch, mean_small, mean_big).b_noise
        ratios.append(math.inf if ratio is None else ratio)
    ratios.sort()
    tail = (1 - confidence) / 2
    # the outer ranks (floor below, ceiling above): the interval is never narrower than asked
    low = ratios[math.floor(tail * (resamples - 1))]
    high = ratios[math.ceil((1 - tail) * (resamples - 1))]
    return _finite(low), _finite(high)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class NoiseScaleEstimate:
    """B_noise with its bootstrap interval, the estimates behind it and how it was measured.
    ``b_noise`` is None when not resolved (the |G|^2 estimate <= 0); ``ci_low``/``ci_high`` are
    None where a bound is not derivable (resamples not resolved)."""

    model: str
    device: str
    small_batch: int
    big_batch: int
    gradients: int  # K small gradients
    big_gradients: int  # K / k groups
    grad_sq_norm: float  # the |G|^2 estimate
    trace_sigma: float  # the tr(Sigma) estimate
    b_noise: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    bootstrap_resamples: int
    seed: int
    mean_small_sq_norm: float
    mean_big_sq_norm: float
    small_sq_norms: tuple[float, ...] = ()
    big_sq_norms: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def resolved(self) -> bool:
        return self.b_noise is not None

    @property
    def accum(self) -> int:
        return self.big_batch // self.small_batch

    def to_dict(self) -> dict[str, object]:
        fields = dict(self.__dict__)
        fields.update(
            small_sq_norms=list(self.small_sq_norms),
            big_sq_norms=list(self.big_sq_norms),
            warnings=list(self.warnings),
            notes=list(self.notes),
        )
        return {"schema_version": self.schema_version, "kind": KIND, **fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoiseScaleEstimate:
        """The record from ``to_dict``'s output; KeyError, TypeError or ValueError when broken."""
        values = {name: data[name] for name in _FIELD_TYPES}
        for name, kinds in _FIELD_TYPES.items():
            if not isinstance(values[name], kinds) or isinstance(values[name], bool):
                raise TypeError(f"field {name!r} is {type(values[name]).__name__}")
        for name in ("small_sq_norms", "big_sq_norms", "warnings", "notes"):
            values[name] = tuple(values[name])
        return cls(**values)


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "device": (str,),
    "small_batch": (int,),
    "big_batch": (int,),
    "gradients": (int,),
    "big_gradients": (int,),
    "grad_sq_norm": _NUMBER,
    "trace_sigma": _NUMBER,
    "b_noise": _OPTIONAL_NUMBER,
    "ci_low": _OPTIONAL_NUMBER,
    "ci_high": _OPTIONAL_NUMBER,
    "confidence": _NUMBER,
    "bootstrap_resamples": (int,),
    "seed": (int,),
    "mean_small_sq_norm": _NUMBER,
    "mean_big_sq_norm": _NUMBER,
    "small_sq_norms": (list,),
    "big_sq_norms": (list,),
    "warnings": (list,),
    "notes": (list,),
}


def estimate_noise_scale(
    norms: GradientNorms,
    request: NoiseRequest,
    device: str,
    warnings: tuple[str, ...] = (),
) -> NoiseScaleEstimate:
    """B_noise, its bootstrap interval and the report's notes, from the measured norms."""
    parts = estimate_parts(norms)
    b_noise = parts.b_noise
    low, high = (None, None)
    if b_noise is not None:
        low, high = bootstrap_interval(norms, request.confidence, request.bootstrap, request.seed)
    notes = [MEAN_LOSS_NOTE, FRESH_SAMPLES_NOTE, TRAINING_PROGRESS_NOTE, CRITICAL_BATCH_NOTE,
             BATCH_DEPENDENT_NOTE.format(batch=norms.small_batch)]  # fmt: skip
    groups = len(norms.big_sq_norms)
    if b_noise is not None and groups < MIN_TRUSTED_GROUPS:
        few = FEW_GROUPS_WARNING.format(groups=groups, accum=request.accum,
                                        minimum=MIN_TRUSTED_GROUPS)  # fmt: skip
        warnings = (*warnings, few)
    if b_noise is None:
        notes.insert(0, NOT_RESOLVED)
    elif parts.trace_sigma <= 0:
        notes.insert(0, NO_NOISE_NOTE)
    return NoiseScaleEstimate(
        model=request.model,
        device=device,
        small_batch=norms.small_batch,
        big_batch=norms.big_batch,
        gradients=len(norms.small_sq_norms),
        big_gradients=len(norms.big_sq_norms),
        grad_sq_norm=parts.grad_sq_norm,
        trace_sigma=parts.trace_sigma,
        b_noise=b_noise,
        ci_low=low,
        ci_high=high,
        confidence=request.confidence,
        bootstrap_resamples=request.bootstrap,
        seed=request.seed,
        mean_small_sq_norm=norms.mean_small,
        mean_big_sq_norm=norms.mean_big,
        small_sq_norms=norms.small_sq_norms,
        big_sq_norms=norms.big_sq_norms,
        warnings=warnings,
        notes=tuple(notes),
    )


def read_noise_scale(path: Path | str) -> NoiseScaleEstimate:
    """Load a ``bsprof noise --json`` file, turning every way it can be broken into one
    InputFileError line."""
    path = Path(path)
    data = read_json_input(path, "noise")
    if not isinstance(data, dict) or data.get("kind") != KIND or "schema_version" not in data:
        raise InputFileError(
            f"{path}: not a bsprof noise JSON (no 'kind': 'noise' and 'schema_version'); "
            "write one with `bsprof noise MODEL --json > FILE`"
        )
    if data["schema_version"] != SCHEMA_VERSION:
        raise InputFileError(
            f"{path}: schema_version {data['schema_version']!r} is not supported "
            f"(this bsprof reads {SCHEMA_VERSION})"
        )
    try:
        return NoiseScaleEstimate.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InputFileError(f"{path}: malformed noise JSON: {detail}") from None

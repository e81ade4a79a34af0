"""A whole sweep (SweepResult), its JSON file (read, validated, written atomically), and how it
shows itself: the CLI's table in a terminal or notebook, plain data, a pandas frame. No torch
here: ``estimate --from`` and ``check`` read these files without loading a model.

The sweep JSON contract (CI and ``estimate --from`` read it; names are stable)::

    {"schema_version": 1, "bsprof_version": "...", "environment": {...}, "config": {...},
     "capacity_bytes": int | null, "largest_fitting_batch": int | null,
     "largest_fitting_batch_bounded": bool (a larger size ran out of memory, or was predicted to),
     "results": [{"batch_size": int, "status": "ok|oom|error|crash|skipped", "error": str | null,
                  "time_per_iter_s": {"median", "iqr", "min", "max", "n", "samples"} | null,
                  "throughput_samples_per_s": float | null, "peak_memory_bytes": int | null,
                  "reserved_bytes": int | null, ...}, ...],
     "warnings": [str, ...], "notes": [str, ...], "complete": bool,
     "prediction_check": {...} | null (the self-check, see bsprof.prediction_check),
     "by_seq_len": [{"seq_len": int, "trials": int, "largest_fitting_batch": int | null,
                     "largest_fitting_batch_bounded": bool, "tokens_per_batch": int | null,
                     "throughput_tokens_per_s": float | null}, ...]}

Each result carries its ``seq_len`` (null for a model file's own batches). A sweep over several
sequence lengths (``--seq-len 512,2048``) holds every length's results in one list; its
top-level ``largest_fitting_batch`` is null (no one batch size answers for every length):
``by_seq_len`` gives each length's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsprof.atomic import write_text_atomic
from bsprof.config import SweepConfig, config_from_dict
from bsprof.environment import Environment
from bsprof.errors import ConfigError, InputFileError
from bsprof.json_input import read_json_input
from bsprof.phases import PhaseTime
from bsprof.prediction_check import PredictionCheck
from bsprof.records import TrialRecord, TrialStatus
from bsprof.version import __version__

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

SCHEMA_VERSION = 1


@dataclass(frozen=True, repr=False)
class SweepResult:
    """A whole sweep: what ran, where, and one record per batch size, in the order run. Its
    repr is the CLI's report; in a notebook, the same report in HTML."""

    environment: Environment
    config: SweepConfig  # as run: the device resolved, the training setup probed
    results: tuple[TrialRecord, ...]
    capacity_bytes: int | None = None
    warnings: tuple[str, ...] = ()
    complete: bool = True
    notes: tuple[str, ...] = ()  # what the search established, e.g. --exact's confirmation
    bsprof_version: str = __version__
    schema_version: int = SCHEMA_VERSION
    prediction_check: PredictionCheck | None = None  # predictions against a real iteration
    scaling_efficiency: Mapping[int, float] | None = None  # --nproc against --single-process
    phases: tuple[PhaseTime, ...] = ()  # where the sweep's wall time went (bsprof.phases)
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys a newer bsprof wrote

    @property
    def largest_fitting_batch(self) -> int | None:
        """The largest batch that ran; None when nothing did, or for several sequence lengths
        (see ``by_seq_len``)."""
        if self.is_seq_len_grid:
            return None
        fitting = [r.batch_size for r in self.results if r.fits]
        return max(fitting) if fitting else None

    @property
    def anything_fits(self) -> bool:
        """Some batch size ran (at some sequence length)."""
        return any(r.fits for r in self.results)

    @property
    def fastest_tokens(self) -> tuple[float, int] | None:
        """The best measured tokens/s among the batch sizes that ran, and its batch size."""
        rates = [
            (r.throughput_tokens_per_s, r.batch_size)
            for r in self.results
            if r.fits and r.throughput_tokens_per_s is not None
        ]
        return max(rates) if rates else None

    @property
    def seq_lens(self) -> tuple[int, ...]:
        """The sequence lengths swept, as asked for or (an hf: model's default) as run."""
        asked = self.config.seq_lens
        ran = tuple(sorted({r.seq_len for r in self.results if r.seq_len is not None}))
        return asked + tuple(length for length in ran if length not in asked)

    @property
    def is_seq_len_grid(self) -> bool:
        return len(self.seq_lens) > 1

    def for_seq_len(self, seq_len: int) -> SweepResult:
        """This sweep's results at one sequence length, as a sweep of its own."""
        return replace(
            self,
            config=replace(self.config, seq_lens=(seq_len,)),
            results=tuple(r for r in self.results if r.seq_len == seq_len),
        )

    def by_seq_len(self) -> dict[int, SweepResult]:
        """One sweep per sequence length, in the order asked for."""
        return {length: self.for_seq_len(length) for length in self.seq_lens}

    @property
    def largest_fitting_batch_bounded(self) -> bool:
        """Whether a larger size ran out of memory (or was predicted not to fit, and skipped):
        only then is ``largest_fitting_batch`` the largest that fits, not the largest tried."""
        largest = self.largest_fitting_batch
        return largest is not None and any(
            r.batch_size > largest and (r.status is TrialStatus.OOM or r.predicted_not_to_fit)
            for r in self.results
        )

    @property
    def ran_on(self) -> str:
        """The device, as text: the one a worker resolved and described, else the one asked
        for (``auto`` when nothing ran)."""
        return self.environment.device or str(self.config.device)

    def by_batch_size(self) -> dict[int, TrialRecord]:
        return {r.batch_size: r for r in self.results}

    def __repr__(self) -> str:
        from bsprof.report.notebook import report_text

        return report_text(self).rstrip("\n")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from bsprof.report.notebook import report_renderable

        yield report_renderable(self, options.max_width)

    def _repr_html_(self) -> str:
        from bsprof.report.notebook import report_html

        return report_html(self)

    def to_rows(self) -> list[dict[str, str | int | float | bool | None]]:
        """One flat row per batch size, ascending, in SI units: every CSV column, always."""
        from bsprof.report.csv import sweep_rows

        return sweep_rows(self)

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` of ``to_rows()`` (pandas is not a dependency of bsprof)."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "SweepResult.to_pandas() needs pandas (pip install pandas); to_rows() gives "
                "the same rows as plain dicts"
            ) from None
        return pandas.DataFrame(self.to_rows())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "bsprof_version": self.bsprof_version,
            "environment": self.environment.to_dict(),
            "config": self.config.to_dict(),
            "capacity_bytes": self.capacity_bytes,
            "largest_fitting_batch": self.largest_fitting_batch,
            "largest_fitting_batch_bounded": self.largest_fitting_batch_bounded,
            "results": [r.to_dict() for r in sorted(self.results, key=lambda r: r.batch_size)],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "complete": self.complete,
            "prediction_check": (
                None if self.prediction_check is None else self.prediction_check.to_dict()
            ),
            "by_seq_len": [_length_summary(part) for part in self.by_seq_len().values()],
            "phases": [p.to_dict() for p in self.phases],
            **(
                {}
                if self.scaling_efficiency is None
                else {"scaling_efficiency": {str(k): v for k, v in self.scaling_efficiency.items()}}
            ),
            **dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepResult:
        known = {
            "schema_version", "bsprof_version", "environment", "config", "capacity_bytes",
            "largest_fitting_batch", "largest_fitting_batch_bounded", "results", "warnings",
            "notes", "complete", "prediction_check", "scaling_efficiency", "by_seq_len", "phases",
        }  # fmt: skip
        efficiency = data.get("scaling_efficiency")
        check = data.get("prediction_check")
        results = data["results"]
        if not isinstance(results, Sequence):
            raise ValueError("'results' must be a list")
        return cls(
            schema_version=int(data["schema_version"]),
            bsprof_version=str(data.get("bsprof_version", "unknown")),
            environment=Environment.from_dict(data.get("environment") or {}),
            config=config_from_dict(data.get("config") or {}),
            capacity_bytes=data.get("capacity_bytes"),
            results=tuple(TrialRecord.from_dict(r) for r in results),
            warnings=tuple(data.get("warnings") or ()),
            notes=tuple(data.get("notes") or ()),
            complete=bool(data.get("complete", True)),
            prediction_check=None if not check else PredictionCheck.from_dict(check),
            scaling_efficiency=(
                None if efficiency is None else {int(k): float(v) for k, v in efficiency.items()}
            ),
            phases=tuple(PhaseTime.from_dict(p) for p in data.get("phases") or ()),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _length_summary(part: SweepResult) -> dict[str, Any]:
    """One sequence length's answer: the largest batch, its tokens, and the best tokens/s."""
    largest = part.largest_fitting_batch
    fastest = part.fastest_tokens
    return {
        "seq_len": part.seq_lens[0],
        "trials": len(part.results),  # 0: not run (an interrupted sweep)
        "largest_fitting_batch": largest,
        "largest_fitting_batch_bounded": part.largest_fitting_batch_bounded,
        "tokens_per_batch": None if largest is None else largest * part.seq_lens[0],
        "throughput_tokens_per_s": None if fastest is None else fastest[0],
    }


def read_sweep(path: Path | str, config_prefix: str | None = None) -> SweepResult:
    """Load a sweep JSON, turning every way it can be broken into one InputFileError line; a
    configuration no sweep could run with is a ConfigError led by ``config_prefix``."""
    path = Path(path)
    data = read_json_input(path, "sweep")
    if not isinstance(data, dict) or "results" not in data or "schema_version" not in data:
        raise InputFileError(f"{path}: not a bsprof sweep JSON (no 'schema_version'/'results')")
    if data["schema_version"] != SCHEMA_VERSION:
        raise InputFileError(
            f"{path}: schema_version {data['schema_version']!r} is not supported "
            f"(this bsprof reads {SCHEMA_VERSION})"
        )
    try:
        return SweepResult.from_dict(data)
    except ConfigError as exc:
        prefix = f"{path}: invalid configuration: " if config_prefix is None else config_prefix
        raise exc.prefixed(prefix) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InputFileError(f"{path}: malformed sweep JSON: {detail}") from None


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Strict JSON (no NaN: CI readers reject it), written atomically."""
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")

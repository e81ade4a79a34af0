"""Output paths: refused before any trial when they cannot be written or would destroy
something (the model file, another output); when a write fails anyway, the results are kept in
a rescue file, and the error says where. No torch here."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bsprof.errors import BsprofError, UsageError

if TYPE_CHECKING:
    from bsprof.result import SweepResult


class OutputWriteError(BsprofError):
    """An output could not be written (exit 2); ``partial`` is what had been measured."""

    def __init__(self, message: str, partial: SweepResult | None = None) -> None:
        super().__init__(message)
        self.partial = partial


def check_outputs(outputs: Mapping[str, Path | None], model: str | None = None) -> None:
    """Each path writable, none a directory, none the model file, no two the same file."""
    seen: dict[Path, str] = {}
    source = _model_path(model)
    for option, path in outputs.items():
        if path is None:
            continue
        resolved = path.resolve()
        if path.is_dir():
            raise UsageError(f"{option} {path}: is a directory; give a file path")
        if source is not None and resolved == source:
            raise UsageError(f"{option} {path}: is the model file; bsprof will not overwrite it")
        if resolved in seen:
            raise UsageError(
                f"{option} {path}: {seen[resolved]} writes the same file; give each its own path"
            )
        seen[resolved] = option
        folder = _nearest_existing(path.parent)
        if not folder.is_dir():
            raise UsageError(f"{option} {path}: {folder} is not a directory")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: cannot write in {folder} (permission denied)")


def _model_path(model: str | None) -> Path | None:
    if model is None:
        return None
    target = model.partition(":")[0]
    return Path(target).resolve() if target.endswith(".py") else None


def _nearest_existing(folder: Path) -> Path:
    """The folder, or its nearest ancestor that exists (the writer creates the rest)."""
    absolute = folder.absolute()
    for candidate in (absolute, *absolute.parents):
        if candidate.exists():
            return candidate
    return Path(absolute.anchor)


def rescue(partial: SweepResult) -> Path | None:
    """Write the results to a new file in the system's temporary folder (not the run's own,
    which is removed at exit); None when even that fails."""
    from bsprof.result import write_json_atomic

    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"bsprof-rescued-{stamp}-{os.getpid()}.json"
    try:
        write_json_atomic(path, partial.to_dict())
    except (OSError, ValueError):
        return None
    return path


def write_failed(option: str, path: Path, exc: OSError, partial: SweepResult) -> OutputWriteError:
    """The one-line error for a failed write, after keeping the results elsewhere."""
    kept = rescue(partial)
    finished = sum(1 for r in partial.results if r.status.value != "skipped")
    where = (
        f"the {finished} batch size(s) finished are kept in {kept}"
        if kept is not None
        else "they could not be saved elsewhere either; they are shown above"
    )
    reason = exc.strerror or str(exc)
    return OutputWriteError(f"{option} {path}: cannot write: {reason}; {where}", partial)


def write_report_file(option: str, path: Path, write: Callable[[], None]) -> None:
    """Write a report file after the report is shown; a failure is one line (exit 2) and
    loses nothing, the report being on screen already."""
    try:
        write()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(
            f"{option} {path}: cannot write: {reason} (the report is shown above)"
        ) from None

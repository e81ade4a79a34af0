"""Reading a JSON file bsprof wrote (a sweep, a noise estimate) back in: strict JSON of a
bounded size, every way a file can be wrong turned into one InputFileError line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bsprof.errors import InputFileError

MAX_INPUT_BYTES = 64 * 2**20  # a sweep of thousands of batch sizes is a few MiB


def read_json_input(path: Path, kind: str) -> Any:
    """At most MAX_INPUT_BYTES of strict JSON (no NaN or Infinity); ``kind`` names what the
    file should be ("sweep", "noise") in the messages."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, not a {kind} JSON") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise InputFileError(f"{path}: larger than 64 MiB: not a bsprof {kind} JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not a text file, so not a bsprof {kind} JSON") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "was it truncated?"
        ) from None
    except RecursionError:
        raise InputFileError(f"{path}: JSON nested too deeply: not a bsprof {kind} JSON") from None
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows (bsprof never writes it)")

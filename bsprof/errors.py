"""The error hierarchy. Each error carries the process exit code the CLI maps it to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERRUPTED = 130


class BsprofError(Exception):
    """A failure bsprof can explain in one line, with the exit code that goes with it."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(BsprofError):
    """Bad options or option values (exit 2)."""


class InputFileError(BsprofError):
    """An input file (sweep JSON, baseline) is missing, unreadable or malformed (exit 2)."""


class ModelFileError(BsprofError):
    """The user's model file cannot be loaded or does not honour the contract (exit 2)."""

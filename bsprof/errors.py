"""The error hierarchy. Each error carries the process exit code the CLI maps it to."""

from __future__ import annotations

from collections.abc import Callable

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


class ConfigError(UsageError):
    """A setting's value is wrong. The domain says what is wrong, naming settings as the
    Python API does (``min_batch``); the command line names the same settings as flags
    (``--min-batch``). ``template`` names settings as ``{min_batch}``; ``values`` fill the
    rest, so text a user typed is never parsed as a template."""

    def __init__(self, template: str, prefix: str = "", **values: object) -> None:
        self.template, self.prefix, self.values = template, prefix, values
        super().__init__(self.render(setting_name))

    def render(self, name: Callable[[str], str]) -> str:
        """The message with each setting called what ``name`` calls it."""
        return self.prefix + self.template.format_map(_Names(name, self.values))

    @property
    def cli_message(self) -> str:
        return self.render(flag_name)

    def prefixed(self, prefix: str) -> ConfigError:
        """The same error, said about something else (a baseline's configuration)."""
        return ConfigError(self.template, prefix + self.prefix, **self.values)


# Settings whose command-line flag is not their name with dashes: the API's from_sweep= and
# times_per_iter= are the estimate command's --from and --time-per-iter; plan's world_sizes=
# is its --nproc.
_FLAGS = {"from_sweep": "--from", "times_per_iter": "--time-per-iter", "world_sizes": "--nproc"}


def setting_name(name: str) -> str:
    return name


def flag_name(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


class _Names(dict[str, object]):
    """Values as given; any other key is a setting's name."""

    def __init__(self, name: Callable[[str], str], values: dict[str, object]) -> None:
        super().__init__(values)
        self._name = name

    def __missing__(self, key: str) -> str:
        return self._name(key)


class InputFileError(BsprofError):
    """An input file (sweep JSON, baseline) is missing, unreadable or malformed (exit 2)."""


class ModelFileError(BsprofError):
    """The user's model file cannot be loaded or does not honour the contract (exit 2)."""


def first_line(exc: BaseException) -> str:
    """An exception's message without what follows its first line: torch appends C++ stack
    traces ("Exception raised from ... frame #0 ...") that no one-line error should carry."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip() if lines else ""

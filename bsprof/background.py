"""A job the sweep runs beside its trials: the prediction of a measured sweep.

A thread in the parent waits on the job's worker (the work itself is in that worker process);
the sweep takes the result when it needs it. The thread is a daemon: an interrupted sweep does
not wait for it, and the worker dies with bsprof (bsprof.lifetime). No torch here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """``run()`` started on a daemon thread; ``result()`` waits for it and returns what it
    returned, or raises what it raised."""

    def __init__(self, run: Callable[[], T], name: str = "bsprof-background") -> None:
        self._run = run
        self._value: T | None = None
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._target, name=name, daemon=True)
        self._thread.start()

    def _target(self) -> None:
        try:
            self._value = self._run()
        except BaseException as exc:  # handed to the caller in result()
            self._error = exc
        self._done = True

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._done
        return self._value  # type: ignore[return-value]  # T may itself allow None

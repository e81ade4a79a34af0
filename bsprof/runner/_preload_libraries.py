"""Imported by the fork server after torch and bsprof (see WorkerPool): the model's libraries
that the parent named in BSPROF_PRELOAD_IMPORTS (bsprof.runner.preload), imported once, so that
no child pays for them. Nothing else imports this module.

Only a speed-up, never a change in what a child does:
- an import that fails here is left to the child, which imports (or fails) as it always did;
- what these libraries hold is start-up, like torch: a child's import of the model file, which
  the memory checks measure (check_import, import_bytes), no longer includes it;
- CUDA stays uninitialised here, as each child initialises its own: the imports run with
  torch's fork-safe CUDA check (NVML), and should one still load the CUDA driver, the fork
  server starts over without them;
- the list is fixed when the fork server starts, once per bsprof process: a later sweep in the
  same process (the Python API, pytest) with another model file keeps the first model's list,
  so its children import their own libraries themselves.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from bsprof.runner.preload import PRELOAD_ENV, import_quietly

# torch.cuda.is_available() asks NVML, not the CUDA runtime, while set (torch's own switch)
_NVML_CHECK_ENV = "PYTORCH_NVML_BASED_CUDA_CHECK"
_CUDA_DRIVER = "libcuda.so"

PRELOADED: tuple[str, ...] = ()  # what this fork server imported (for debugging a slow start)


def _cuda_driver_loaded() -> bool:
    try:
        return _CUDA_DRIVER in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _cuda_touched(driver_before: bool) -> bool:
    torch = sys.modules.get("torch")
    initialised = torch is not None and bool(torch.cuda.is_initialized())
    return initialised or (_cuda_driver_loaded() and not driver_before)


def _restart_without_libraries() -> None:
    """The same fork server command, started afresh without the libraries: a forked child must
    initialise CUDA itself. The listening socket and pipes it was passed are inheritable (the
    parent passed them so), so they survive the exec."""
    del os.environ[PRELOAD_ENV]
    command = Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def _preload() -> tuple[str, ...]:
    entries = os.environ.get(PRELOAD_ENV, "").split()
    if not entries:
        return ()
    driver_before = _cuda_driver_loaded()
    nvml_check = os.environ.get(_NVML_CHECK_ENV)
    os.environ[_NVML_CHECK_ENV] = "1"
    try:
        imported = import_quietly(entries)
    finally:
        if nvml_check is None:
            del os.environ[_NVML_CHECK_ENV]
        else:
            os.environ[_NVML_CHECK_ENV] = nvml_check
    if _cuda_touched(driver_before):
        _restart_without_libraries()
    return imported


try:
    PRELOADED = _preload()
except Exception:  # multiprocessing tolerates only ImportError in a preload; a speed-up
    PRELOADED = ()

# What the fork server has imported lives as long as it and every child: out of the collector's
# sight, a child's collection scans only what the child made (a series' begin_trial collected
# for 0.13 s per size with torch and torch._dynamo in view; the collections Python runs by
# itself during timed iterations are shorter too).
gc.freeze()

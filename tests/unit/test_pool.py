"""The worker's entry point, in a real child process."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD_WITHOUT_ITS_RUN_DIRECTORY = """
import multiprocessing
from bsprof.runner.pool import child_entry

receiver, sender = multiprocessing.Pipe(duplex=False)
process = multiprocessing.get_context("fork").Process(
    target=child_entry, args=(None, sender, "/nonexistent-bsprof-run/sweep/job-001.log", {})
)
process.start()
process.join(30)
print(process.exitcode)
"""


@pytest.mark.slow
def test_a_child_whose_run_directory_is_gone_leaves_quietly() -> None:
    """Interrupted while a worker starts: bsprof removes its run directory, and the worker
    must not print a traceback into the user's terminal when it cannot open its log."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD_WITHOUT_ITS_RUN_DIRECTORY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "1"
    assert "Traceback" not in done.stderr, done.stderr

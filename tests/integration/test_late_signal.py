"""A SIGTERM or SIGHUP that lands after the command is done (its results written, the
interpreter shutting down and cleaning up its workers) must not kill a finished run: CI saw a
sweep end with -15 (the signal's default action) after its last batch size was written."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.integration.test_sweep_cli import ROOT

# bsprof's entry point with sys.exit made to receive the signal first, as if it arrived while
# the process shuts down
LATE_SIGNAL = """
import importlib, os, sys, time
app = importlib.import_module("bsprof.cli.app")
exit_now = sys.exit
def late(code):
    os.kill(os.getpid(), {signum})
    time.sleep(0.2)
    exit_now(code)
app.sys.exit = late
app.main(["estimate", "--dataset-size", "100", "--epochs", "1", "--batch-size", "8",
          "--time-per-iter", "10ms"])
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_after_the_command_is_done_leaves_its_exit_code(signum: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LATE_SIGNAL.format(signum=int(signum))],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "10.0 ms" in done.stdout  # the estimate was printed before the signal

"""The fork server preloads a model file's libraries (bsprof.runner.preload): a child finds
them imported before the model file is; one that fails in the fork server changes nothing but
the speed. Each case is a fresh bsprof process: a fork server keeps the list it started with."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.processes import ROOT, run_bsprof

pytestmark = pytest.mark.slow

LIBRARY = "bsprof_test_preloaded_library"

# Each child notes whether the library was in sys.modules before the model file imported it.
MODEL = f"""
import os
import sys
with open(os.environ["BSPROF_TEST_PRELOAD_SEEN"], "a") as seen:
    seen.write(str("{LIBRARY}" in sys.modules) + "\\n")
import {LIBRARY}
import torch
def build_model():
    return torch.nn.Linear(4, {LIBRARY}.CLASSES)
def make_batch(batch_size):
    return torch.ones(batch_size, 4), torch.zeros(batch_size, dtype=torch.long)
"""

# Only the fork server has BSPROF_PRELOAD_IMPORTS in its environment (a child gets the parent's).
LIBRARIES = {
    "importable": "CLASSES = 3\n",
    "raises in the fork server": (
        "import os, sys, warnings\nCLASSES = 3\nif os.environ.get('BSPROF_PRELOAD_IMPORTS'):\n"
        "    print('LOUD out'); print('LOUD err', file=sys.stderr); warnings.warn('LOUD')\n"
        "    raise RuntimeError('LOUD failure')\n"
    ),
    "exits in the fork server": (
        "import os, sys\nCLASSES = 3\nif os.environ.get('BSPROF_PRELOAD_IMPORTS'):\n"
        "    sys.exit('LOUD exit')\n"
    ),
    # As if it loaded the CUDA driver: a file of that name mapped (what the fork server checks)
    "loads the CUDA driver": (
        "import mmap, os\nCLASSES = 3\nif os.environ.get('BSPROF_PRELOAD_IMPORTS'):\n"
        "    path = os.path.join(os.path.dirname(__file__), 'libcuda.so.1')\n"
        "    with open(path, 'wb') as f:\n        f.write(bytes(4096))\n"
        "    _driver = mmap.mmap(os.open(path, os.O_RDONLY), 0, access=mmap.ACCESS_READ)\n"
    ),
}


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_sweep_preloads_the_model_files_library(tmp_path: Path, library: str) -> None:
    site, models = tmp_path / "site", tmp_path / "models"
    (site / LIBRARY).mkdir(parents=True)
    (site / LIBRARY / "__init__.py").write_text(LIBRARIES[library])
    models.mkdir()
    (models / "model.py").write_text(MODEL)
    seen = tmp_path / "seen.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)]),
        "BSPROF_TEST_PRELOAD_SEEN": str(seen),
    }
    out = tmp_path / "sweep.json"
    done = run_bsprof(
        "sweep", str(models / "model.py"), "--device", "cpu", "--max-batch", "2",
        "--iters", "1", "--warmup", "0", "--json", str(out), env=env, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOUD" not in done.stdout + done.stderr
    assert [r["status"] for r in json.loads(out.read_text())["results"]] == ["ok", "ok"]
    children = seen.read_text().split()
    assert len(children) >= 3  # the probe, the prediction, each trial
    expected = "True" if library == "importable" else "False"  # else: imported by the child
    assert set(children) == {expected}

"""The CPU backend's cap and peak memory, measured for real in a fresh process.

The cap is an address-space limit, not a tensor budget: these tests pin down what it really
admits so the sweep's OOM boundary means what the user asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

PROBE = textwrap.dedent(
    """
    import json, torch
    from bsprof.backends.cpu import CpuBackend
    backend = CpuBackend()
    backend.prepare(512 * 2**20)
    admitted = {}
    for mib in (256, 448, 600):
        try:
            tensor = torch.empty(mib * 2**20, dtype=torch.uint8)
            tensor.fill_(1)
            del tensor
            admitted[mib] = "ok"
        except RuntimeError as exc:
            admitted[mib] = "oom" if backend.is_oom(exc) else str(exc)
    backend.reset_peak()
    live = torch.ones(200 * 2**20, dtype=torch.uint8)
    peak = backend.read_memory().peak_bytes
    print(json.dumps({"admitted": admitted, "peak": peak, "capacity": backend.capacity_bytes()}))
    """
)


def test_the_cap_admits_the_limit_and_fails_beyond_it_with_a_real_oom() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    data = json.loads(result.stdout)
    # 448 MiB of tensors fit under a 512 MiB cap; 600 MiB raise PyTorch's allocator error
    assert data["admitted"] == {"256": "ok", "448": "ok", "600": "oom"}
    assert data["capacity"] == 512 * 2**20
    # peak above the start-up level: the 200 MiB tensor plus little else
    assert 200 * 2**20 <= data["peak"] < 216 * 2**20

"""--exact over a --seq-len grid: every record, the doubling sizes the memory line skipped
above B + 1 included, belongs to its length (the per-length tables, the CSV and the JSON
group by it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_sweep_cli import MODELS, sweep

pytestmark = pytest.mark.slow


def test_skipped_doubling_sizes_carry_their_seq_len(tmp_path: Path) -> None:
    out = tmp_path / "grid.json"
    code, output = sweep(
        str(MODELS / "seq_len_batch.py"), "--device", "cpu", "--memory-limit", "96MiB",
        "--seq-len", "64,256", "--exact", "--iters", "1", "--warmup", "1", "--threads", "1",
        "--no-self-check", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    records = json.loads(out.read_text())["results"]
    skipped = [r for r in records if r["status"] == "skipped"]
    assert skipped  # the line skipped a doubling size above each length's B + 1
    assert all(r["seq_len"] in (64, 256) for r in records), records

"""FSDP2 for real on CPU (gloo): a 2-rank job's live-tensor peak, measured in each rank by
torch's MemTracker, against ``--predict --nproc 2 --strategy fsdp``; and a measured
``--nproc 2 --strategy fsdp`` sweep through torchrun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fsdp_reference import fsdp_peaks, llama_layers
from tests.integration.test_sweep_cli import MODELS, sweep

pytestmark = pytest.mark.slow
pytest.importorskip("transformers")

LLAMA = str(MODELS / "fsdp_llama.py")  # 4 layers; vocabulary 1001: padded shards over 2


def test_the_predicted_per_device_peak_matches_each_real_rank(tmp_path: Path) -> None:
    path = tmp_path / "predicted.json"
    code, output = sweep(
        LLAMA, "--predict", "--nproc", "2", "--strategy", "fsdp", "--batch-sizes", "2",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, output
    prediction = json.loads(path.read_text())["results"][0]["prediction"]
    assert prediction["sharded_over"] == 2
    predicted = prediction["predicted_peak_bytes"]
    real = fsdp_peaks(LLAMA, 2, 2, llama_layers)
    for rank, peak in enumerate(real):
        assert abs(predicted - peak) <= 0.05 * peak, (rank, predicted, real)
    # the self-check ran the same sharded iteration on real tensors
    assert "Prediction self-checked" in output and "+0.0%" in output


def test_a_measured_fsdp_sweep_runs_two_ranks_through_torchrun(tmp_path: Path) -> None:
    out = tmp_path / "fsdp.json"
    code, output = sweep(
        LLAMA, "--device", "cpu", "--nproc", "2", "--strategy", "fsdp", "--batch-sizes", "2",
        "--warmup", "0", "--iters", "1", "--oversubscribe", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["config"]["strategy"] == "fsdp" and data["config"]["world_size"] == 2
    result = data["results"][0]
    assert result["status"] == "ok", result
    assert [r["status"] for r in result["per_rank"]] == ["ok", "ok"]

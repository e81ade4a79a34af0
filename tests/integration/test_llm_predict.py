"""A few-hundred-million-parameter Llama from a local config, predicted for an H100 at two
sequence lengths: in bounded time and memory, with an answer per length that the numbers
explain (parameters from the config, memory's line checked at the boundary)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_sweep_cli import ROOT

pytestmark = pytest.mark.slow
transformers = pytest.importorskip("transformers")

LLAMA_250M = dict(
    hidden_size=1024, intermediate_size=2816, num_hidden_layers=16, num_attention_heads=16,
    num_key_value_heads=8, vocab_size=32000, max_position_embeddings=4096,
    architectures=["LlamaForCausalLM"],
)  # fmt: skip
MAX_WALL_S = 180  # ~25 s here (2 cores); the bound leaves room for a slow CI machine
MAX_RSS_BYTES = 2 * 2**30

# Runs bsprof and samples the peak RSS (VmHWM) of it and every process under it (its workers,
# which RUSAGE_CHILDREN misses: the forkserver, not bsprof, reaps them) every 50 ms.
MEASURED = """
import subprocess, sys, time
from pathlib import Path

def tree(root):
    parents = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(l.split(":", 1) for l in status.read_text().splitlines() if ":" in l)
        except OSError:
            continue
        parents[int(status.parent.name)] = (int(fields["PPid"]), fields.get("VmHWM", "0 kB"))
    found, peak = {root}, 0
    for _ in range(8):
        found |= {pid for pid, (ppid, _) in parents.items() if ppid in found}
    for pid in found & parents.keys():
        peak = max(peak, int(parents[pid][1].split()[0]) * 1024)
    return peak

start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
peak = 0
while process.poll() is None:
    peak = max(peak, tree(process.pid))
    time.sleep(0.05)
output = process.stdout.read()
print(process.returncode, time.perf_counter() - start, peak)
sys.stderr.write(output[-6000:])
"""


def measured(command: list[str]) -> tuple[float, int]:
    """Run bsprof (it must succeed): its wall time and the largest RSS in its process tree."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, *command],
        cwd=ROOT, capture_output=True, text=True, timeout=2 * MAX_WALL_S, check=True,
    )  # fmt: skip
    code, wall, rss = done.stdout.split()
    assert int(code) == 0, done.stderr
    return float(wall), int(rss)


def weight_bytes() -> int:
    """Parameters and buffers (rotary frequencies), as built on the meta device: no memory."""
    import torch

    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**LLAMA_250M))
    tensors = [*model.parameters(), *model.buffers()]
    assert sum(p.numel() for p in model.parameters()) > 250_000_000
    return sum(t.numel() * t.element_size() for t in tensors)


def test_a_250m_llama_predicts_for_an_h100_at_two_lengths(tmp_path: Path) -> None:
    transformers.LlamaConfig(**LLAMA_250M).save_pretrained(tmp_path / "llama")
    out = tmp_path / "llama.json"
    command = [
        sys.executable, "-m", "bsprof", "sweep", f"hf:{tmp_path / 'llama'}", "--predict",
        "--gpu", "h100", "--seq-len", "512,2048", "--json", str(out),
    ]  # fmt: skip
    wall, rss = measured(command)
    assert wall < MAX_WALL_S and rss < MAX_RSS_BYTES, (wall, rss)

    data = json.loads(out.read_text())
    answers = {a["seq_len"]: a for a in data["by_seq_len"]}
    assert sorted(answers) == [512, 2048]
    short, long = answers[512], answers[2048]
    assert short["largest_fitting_batch_bounded"] and long["largest_fitting_batch_bounded"]
    assert short["largest_fitting_batch"] > long["largest_fitting_batch"] >= 1
    assert short["tokens_per_batch"] == 512 * short["largest_fitting_batch"]
    for length, answer in answers.items():
        rows = {r["batch_size"]: r for r in data["results"] if r["seq_len"] == length}
        largest = answer["largest_fitting_batch"]
        # memory's line was checked at the boundary: B fits the H100, B + 1 does not
        assert rows[largest]["status"] == "ok" and rows[largest + 1]["status"] == "oom"
        assert len(rows) <= 6  # two trials for the line, two to check it (not a bisection)
        prediction = rows[largest]["prediction"]
        assert prediction["breakdown"]["parameters"] == weight_bytes()
        assert prediction["predicted_device_bytes"] <= data["capacity_bytes"]


LLAMA_8B = dict(
    hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
    tie_word_embeddings=False, architectures=["LlamaForCausalLM"],
)  # fmt: skip


def test_an_8b_llama_predicts_in_under_a_minute_and_2_gib(tmp_path: Path) -> None:
    """Llama-3-8B's shape, LoRA on bf16 weights: no weights exist anywhere, so the laptop that
    predicts it needs neither the 16 GB of weights nor a GPU."""
    transformers.LlamaConfig(**LLAMA_8B).save_pretrained(tmp_path / "llama8b")
    out = tmp_path / "llama8b.json"
    command = [
        sys.executable, "-m", "bsprof", "sweep", f"hf:{tmp_path / 'llama8b'}", "--predict",
        "--gpu", "h100", "--seq-len", "2048", "--precision", "bf16-true", "--lora", "16",
        "--json", str(out),
    ]  # fmt: skip
    wall, rss = measured(command)
    assert wall < 60 and rss < MAX_RSS_BYTES, (wall, rss)
    data = json.loads(out.read_text())
    largest = data["by_seq_len"][0]["largest_fitting_batch"]
    breakdown = next(r for r in data["results"] if r["batch_size"] == largest)["prediction"][
        "breakdown"
    ]
    assert breakdown["parameters"] > 15 * 10**9  # 8.0e9 bf16 weights (and fp32 adapters)
    assert breakdown["optimizer_state"] < 10**9  # AdamW over the adapters only

"""Validate bsprof on a real GPU in one go, and write what was measured as Markdown.

    PYTHONPATH=. python benchmarks/gpu_validation.py --out benchmarks/GPU_RESULTS.md

Steps, each run as subprocesses with a timeout, none stopping the next: (1) pytest -m gpu,
(2) bsprof env, (3) --exact sweeps of the examples (and memory_hog under --memory-limit 8GiB:
an OOM, and the trials after it), (4) --predict against measured peaks for the examples and a
few zoo models, fp32 and bf16, (5) a DDP trial over nccl, (6) an hf: Llama at --seq-len
512,2048 bf16-true, predicted for this GPU against measured. The whole run keeps to a time
budget (~9 minutes); a step the budget cut short says so. Exit 1 when any step failed.

Without CUDA it exits 2 at once, unless --allow-cpu: then every step runs with --device cpu
(no pytest -m gpu, no nccl), to exercise this script's logic; --quick makes the ranges tiny.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TIMING = ["--iters", "3", "--warmup", "1", "--no-self-check"]
ZOO = "tests/models/zoo"
EXAMPLES = ["mnist_mlp.py", "small_cnn.py", "tiny_transformer.py"]
# file, two batch sizes (those tests/unit/test_zoo_predictions.py checks on CPU)
PREDICTED = [
    *[(f"examples/{name}", (8, 64)) for name in EXAMPLES],
    (f"{ZOO}/hf_llama_lm.py", (2, 8)),
    (f"{ZOO}/resnet_inplace.py", (2, 16)),
    (f"{ZOO}/lstm_classifier.py", (2, 48)),
    (f"{ZOO}/multihead_attention.py", (2, 8)),
]
LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
    "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8,
    "num_key_value_heads": 4, "vocab_size": 8192, "max_position_embeddings": 4096,
}  # fmt: skip
PROBE = """
import json, torch
info = {"cuda": torch.cuda.is_available(), "torch": torch.__version__,
        "cuda_version": torch.version.cuda, "count": 0}
if info["cuda"]:
    p = torch.cuda.get_device_properties(0)
    info.update(count=torch.cuda.device_count(), name=torch.cuda.get_device_name(0),
                memory=p.total_memory)
    try:
        import pynvml
        pynvml.nvmlInit()
        info["driver"] = str(pynvml.nvmlSystemGetDriverVersion())
    except Exception as exc:
        info["driver"] = f"unknown ({type(exc).__name__})"
print(json.dumps(info))
"""


@dataclass
class Step:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Validation:
    device: str  # "cuda" or "cpu"
    quick: bool
    deadline: float
    work: Path
    gpus: int = 0
    gpu_name: str = ""
    gpu_memory: int = 0
    reserve: float = 0.0  # seconds the current step leaves to the steps after it
    log: list[str] = field(default_factory=list)

    def run(self, argv: list[str], timeout: float) -> tuple[int | None, str]:
        """rc (None: timed out or not run) and the combined output; never raises."""
        left = self.deadline - time.monotonic() - self.reserve
        if left < 5:
            return None, "not run: the time budget is spent"
        started = time.monotonic()
        rc, output = _run_group(argv, min(timeout, left))
        self.log.append(f"$ {shlex.join(argv)}  # rc {rc}, {time.monotonic() - started:.1f} s")
        return rc, output

    def sweep(self, model: str, *args: str, timeout: float = 120) -> tuple[dict[str, Any], str]:
        """A bsprof sweep's JSON; an empty dict, and the error line, where none was written."""
        out = self.work / f"sweep{len(self.log)}.json"
        argv = [PY, "-m", "bsprof", "sweep", model, *args, "--json", str(out)]
        rc, output = self.run(argv, timeout)
        try:
            data = json.loads(out.read_text()) if out.is_file() else {}
        except ValueError as exc:
            return {}, f"rc {rc}: {out.name} unreadable: {exc}"
        if rc in (0, 1) and data:
            return data, ""
        line = output.splitlines()[0] if rc is None else _last_line(output)  # timeout, budget
        return data, f"rc {rc}: {line}"


def _run_group(argv: list[str], timeout: float) -> tuple[int | None, str]:
    """Run in a session of its own, so a timeout kills the sweep's workers with it."""
    with subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            output = proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            try:
                output = proc.communicate(timeout=10)[0]
            except subprocess.TimeoutExpired:  # a worker in a session of its own holds the pipe
                output = ""
            return None, f"timed out after {timeout:.0f} s\n{output}"
    return proc.returncode, output


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "timed out" in line]
    return (errors or lines or ["(no output)"])[-1][:300]


def _bad_trials(data: dict[str, Any]) -> str:
    """The trials that crashed or raised (an OOM is an answer, not a failure), or ''."""
    bad = [r for r in data.get("results", []) if r["status"] in ("crash", "error")]
    return "; ".join(f"batch {r['batch_size']} {r['status']}: {r.get('error')}" for r in bad)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f}"


def _pct(predicted: int | None, measured: int | None) -> str:
    if predicted is None or not measured:
        return "-"
    return f"{(predicted - measured) / measured:+.1%}"


def step_pytest(v: Validation) -> Step:
    step = Step("1. pytest -m gpu tests/gpu", ["result", "passed", "failed", "skipped", "errors"])
    if v.device != "cuda":
        step.rows.append(["not run (no CUDA: --allow-cpu)", "-", "-", "-", "-"])
        return step
    rc, output = v.run([PY, "-m", "pytest", "-q", "-m", "gpu", "tests/gpu"], 300)
    counts = {k: re.search(rf"(\d+) {k}", output) for k in ("passed", "failed", "skipped", "error")}
    row = [f"rc {rc}"] + [m.group(1) if m else "0" for m in counts.values()]
    step.rows.append(row)
    if rc != 0:
        step.errors.append(f"pytest rc {rc}: {_last_line(output)}")
    return step


def step_env(v: Validation) -> Step:
    step = Step("2. bsprof env", ["line"])
    rc, output = v.run([PY, "-m", "bsprof", "env"], 60)
    step.rows += [[line.strip().replace("|", "/")] for line in output.splitlines() if line.strip()]
    if rc != 0:
        step.errors.append(f"bsprof env rc {rc}: {_last_line(output)}")
    return step


def _oom_summary(data: dict[str, Any]) -> list[str]:
    """OOM sizes, the statuses of trials below the first OOM that are not powers of two
    (bisection: run after the OOM), and --exact's rechecks."""
    results = data.get("results", [])
    ooms = [r["batch_size"] for r in results if r["status"] == "oom"]
    first = min(ooms) if ooms else None
    after = [
        f"{r['batch_size']}:{r['status']}"
        for r in results
        if first and r["batch_size"] < first and r["batch_size"] & (r["batch_size"] - 1)
    ]
    rechecked = [f"{r['batch_size']}:{r['rechecked']}" for r in results if r.get("rechecked")]
    return [",".join(map(str, ooms)) or "none", " ".join(after) or "-", " ".join(rechecked) or "-"]


def step_exact(v: Validation) -> Step:
    step = Step(
        "3. --exact sweeps (measured)",
        ["model", "limit", "largest batch", "bounded", "statuses", "OOM at",
         "bisected after OOM", "rechecked"],
    )  # fmt: skip
    low, high = ("4", "8") if v.quick else ("64", "1024")
    runs: list[tuple[str, str | None, str, str]] = [
        (f"examples/{name}", None, low, high) for name in EXAMPLES[: 1 if v.quick else 3]
    ]
    runs += [(model, "8GiB", lo, hi) for model, _, lo, hi in runs]
    hog_low, hog_high = ("1024", "4096") if v.device == "cuda" else ("64", "256")
    hog_limit = "8GiB" if v.device == "cuda" else "512MiB"
    runs.append(("tests/models/memory_hog.py", hog_limit, hog_low, hog_high))
    for model, limit, lo, hi in runs:
        extra = ["--memory-limit", limit] if limit else []
        args = ["--device", v.device, "--exact", "--min-batch", lo, "--max-batch", hi, *extra]
        timeout = 240 if "memory_hog" in model else 150
        data, error = v.sweep(model, *args, *TIMING, timeout=timeout)
        error = error or _bad_trials(data)
        statuses = " ".join(f"{r['batch_size']}:{r['status']}" for r in data.get("results", []))
        step.rows.append(
            [model, limit or "none", str(data.get("largest_fitting_batch", "-")),
             str(data.get("largest_fitting_batch_bounded", "-")), statuses or "-",
             *_oom_summary(data)]
        )  # fmt: skip
        if error:
            step.errors.append(f"{model} ({limit or 'no limit'}): {error}")
    return step


def _by_batch(data: dict[str, Any]) -> dict[tuple[int, int | None], dict[str, Any]]:
    return {(r["batch_size"], r.get("seq_len")): r for r in data.get("results", [])}


def _compare_rows(
    label: str, predicted: dict[str, Any], measured: dict[str, Any]
) -> list[list[str]]:
    rows = []
    guesses = _by_batch(predicted)
    for key, real in sorted(_by_batch(measured).items(), key=lambda kv: (kv[0][1] or 0, kv[0][0])):
        guess = (guesses.get(key) or {}).get("prediction") or {}
        peak, reserved = real.get("peak_memory_bytes"), real.get("reserved_bytes")
        device, live = guess.get("predicted_device_bytes"), guess.get("predicted_peak_bytes")
        rows.append(
            [label, str(key[1] or "-"), str(key[0]), real["status"], _mib(live), _mib(peak),
             _pct(live, peak), _mib(device), _mib(reserved), _pct(device, reserved)]
        )  # fmt: skip
    return rows


COMPARE_HEADER = [
    "model / precision", "seq len", "batch", "measured status", "predicted peak MiB",
    "measured peak MiB (CUDA: allocated)", "error", "predicted device MiB", "measured reserved MiB",
    "error (device vs reserved)",
]  # fmt: skip


def _predict_and_measure(
    v: Validation, model: str, label: str, step: Step, args: list[str], target: list[str]
) -> None:
    predicted, p_error = v.sweep(model, "--predict", "--no-self-check", *target, *args, timeout=120)
    measured, m_error = v.sweep(model, "--device", v.device, *args, *TIMING, timeout=120)
    step.rows += _compare_rows(label, predicted, measured)
    bad = _bad_trials(measured)
    step.errors += [f"{label}: {e}" for e in (p_error, m_error, bad) if e]


def step_predicted(v: Validation) -> Step:
    step = Step("4. --predict (80 GiB target) against measured", COMPARE_HEADER)
    cases = PREDICTED[:1] + PREDICTED[4:5] if v.quick else PREDICTED
    target = ["--device-memory", "80GiB"]
    for model, sizes in cases:
        batches = "1,2" if v.quick else ",".join(map(str, sizes))
        for precision in ("fp32", "bf16"):
            label = f"{model.rsplit('/', 1)[-1]} {precision}"
            args = ["--precision", precision, "--batch-sizes", batches]
            _predict_and_measure(v, model, label, step, args, target)
    return step


def step_ddp(v: Validation) -> Step:
    step = Step("5. DDP (--nproc)", ["nproc", "backend", "batch", "status", "peak MiB", "error"])
    if v.device != "cuda":
        step.rows.append(["-", "nccl", "-", "not run (no CUDA: --allow-cpu)", "-", "-"])
        return step
    for nproc in (1, 2) if v.gpus > 1 else (1,):
        args = ["--nproc", str(nproc), "--device", "cuda", "--batch-sizes", "8", *TIMING]
        data, error = v.sweep("examples/small_cnn.py", *args, timeout=180)
        for r in data.get("results", []):
            row = [str(nproc), "nccl", str(r["batch_size"]), r["status"]]
            step.rows.append([*row, _mib(r.get("peak_memory_bytes")), r.get("error") or "-"])
        error = error or _bad_trials(data)
        if error or not data.get("results"):
            step.errors.append(f"--nproc {nproc}: {error or 'no results'}")
    return step


def _gpu_target(v: Validation) -> list[str]:
    """--gpu for a GPU bsprof knows by name (the longest key that matches), else its memory."""
    try:
        from bsprof.gpus import GPUS
    except ImportError:
        GPUS = {}
    name = v.gpu_name.lower()
    keys = [k for k in GPUS if all(part in name for part in k.split("-"))]
    if keys:
        return ["--gpu", max(keys, key=len)]
    memory = v.gpu_memory or 80 * 2**30
    return ["--device-memory", f"{memory // 2**20}MiB"]


def step_hf(v: Validation) -> Step:
    step = Step("6. hf: Llama, --seq-len 512,2048, bf16-true (CUDA attention rule)", COMPARE_HEADER)
    folder = v.work / "llama"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(LLAMA))
    target = _gpu_target(v) if v.device == "cuda" else ["--device-memory", "80GiB"]
    step.title += f" (prediction: {' '.join(target)})"
    batches = "1,2" if v.quick else "1,4"
    args = ["--seq-len", "512,2048", "--precision", "bf16-true", "--batch-sizes", batches]
    _predict_and_measure(v, f"hf:{folder}", "llama bf16-true", step, args, target)
    return step


def markdown(v: Validation, info: dict[str, Any], steps: list[Step], argv: list[str]) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# bsprof GPU validation", "",
        f"- date: {now}",
        f"- device: {info.get('name', 'none')} x{info.get('count', 0)}"
        + ("" if info.get("cuda") else " (--allow-cpu: every step on the CPU)"),
        f"- driver: {info.get('driver', '-')}",
        f"- torch {info.get('torch')}, CUDA {info.get('cuda_version')}",
        f"- command: `{shlex.join(argv)}`", "",
    ]  # fmt: skip
    for step in steps:
        lines += [f"## {step.title}", ""]
        lines += [f"**FAILED**: {error}" for error in step.errors]
        lines += [""] if step.errors else []
        lines += ["| " + " | ".join(step.header) + " |", "|" + "---|" * len(step.header)]
        lines += [
            "| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in step.rows
        ]
        lines.append("")
    failed = [s.title for s in steps if s.errors]
    lines.append(f"**Result**: {'FAILED: ' + '; '.join(failed) if failed else 'every step passed'}")
    lines += ["", "## Commands run", "", "```", *v.log, "```", ""]
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "GPU_RESULTS.md")
    parser.add_argument("--allow-cpu", action="store_true", help="no CUDA: run on the CPU")
    parser.add_argument("--quick", action="store_true", help="one example, one zoo model")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for every step")
    return parser.parse_args(argv)


def probe() -> dict[str, Any]:
    done = subprocess.run([PY, "-c", PROBE], capture_output=True, text=True, timeout=120)
    try:
        info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        info = {"cuda": False, "probe_error": _last_line(done.stderr)}
    return info


def main(argv: list[str]) -> int:
    started = time.monotonic()
    args = parse(argv)
    info = probe()  # in a child: this process never initialises CUDA
    if not info["cuda"] and not args.allow_cpu:
        print("no CUDA device: nothing to validate")
        return 2
    device = "cuda" if info["cuda"] else "cpu"
    with tempfile.TemporaryDirectory(prefix="bsprof-gpuval-") as work:
        v = Validation(device, args.quick, started + args.budget, Path(work))
        v.gpus, v.gpu_name, v.gpu_memory = (
            info["count"],
            info.get("name", ""),
            info.get("memory", 0),
        )
        steps = [step_pytest(v), step_env(v)]
        v.reserve = 150  # steps 3 and 4 leave time for 5 and 6
        steps += [step_exact(v), step_predicted(v)]
        v.reserve = 0
        steps += [step_ddp(v), step_hf(v)]
    text = markdown(v, info, steps, [sys.executable, *sys.argv])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 1 if any(step.errors for step in steps) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

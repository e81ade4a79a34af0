"""bsprof sweep --exact against Lightning's batch-size finder, side by side, on this machine.

    PYTHONPATH=. BENCH_PYTHON/bin/python benchmarks/vs_lightning.py [--quick] [--repeat N]

Run from the repository root, with an interpreter whose environment has bsprof's dependencies,
lightning and transformers: a bench-only environment (lightning is not a bsprof dependency),
e.g. ``python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install "torch==2.13.0"
lightning transformers "typer<0.29" rich nvidia-ml-py``. Every child process below runs under
that same interpreter, so both tools train with the same torch build.

The question both tools answer: the largest batch whose training iterations fit under a CPU
memory cap. Per workload (model file, cap):

* **bsprof**: ``python -m bsprof sweep MODEL --device cpu --exact --memory-limit CAP --warmup 1
  --iters 2 --max-batch MAX --json OUT`` in a fresh process; its answer is the JSON's
  ``largest_fitting_batch``. Its defaults otherwise (AdamW, the model file's loss or bsprof's
  default one, --guide on).
* **Lightning**: benchmarks/lightning_finder.py in a fresh process: a LightningModule wrapping
  the same model file's model, loss (computed by tests/reference.py's ``_loss``, the plain
  loop's) and AdamW, a LightningDataModule whose dataloader yields the model file's
  ``make_batch(B)`` (built once per trial and reused for every step, as bsprof's trials and the
  reference loop do), ``Trainer(accelerator="cpu", devices=1, logger=False,
  enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
  max_epochs=1)`` and ``Tuner(trainer).scale_batch_size(mode="binsearch", init_val=1,
  steps_per_trial=3, max_trials=64, margin=0.0, max_val=MAX)``. margin=0: binsearch's default
  answer is 5% under the boundary it found; the boundary is what is compared. Three steps per
  trial, as bsprof's 1 warm-up + 2 timed iterations.
* **Re-check**: each answer B by tests/fits_reference.py, a plain hand-written training loop
  (two iterations, the second with AdamW's state) in a fresh process per size: B must fit and
  B+1 must run out of memory.

The cap means the same in all three: bsprof's CPU backend applies it (``CpuBackend.prepare``,
bsprof/backends/cpu.py). Once the process has started (torch, torch._dynamo and, for Lightning,
lightning imported; the model file imported), glibc is tamed (one malloc arena, a fixed mmap
threshold) and torch's runtime warmed up; RLIMIT_AS is then set to the process's address space
at that point (VmSize) plus CAP. The reference and the Lightning child seed torch before the cap, as
a training script does at its top (under it, a CPU-only torch's ``manual_seed`` took a 1 MiB
pymalloc arena that a training iteration never uses: tests/fits_reference.py). The model, its
optimizer state and every batch are built under it. bsprof's workers do exactly this
(``model_loaded``), and tests/fits_reference.py calls the same backend; the Lightning child calls it
after constructing its Trainer and DataModule (which allocate no tensors) and before building the
model. What each process had mapped before the cap (lightning maps more code than bsprof's workers)
is start-up and does not count; everything a tool allocates afterwards does, Lightning's own
in-process machinery included (its checkpoint save and restore, state kept between trials, all
trials in one process).

Lightning recognises the CPU out-of-memory error: ``is_oom_error`` matches "DefaultCPUAllocator:
can't allocate memory" in a one-argument RuntimeError, which is what torch raises in forward and
backward (a Python MemoryError would not be recognised and would end the search). Its binsearch,
though, builds the next trial's first batch inside its ``except`` block, while the failed
trial's traceback still holds that trial's tensors; under a CPU cap that allocation fails
outside any ``try`` and the finder crashes (on a GPU the batch is built in host memory, outside
the device's limit). By default the Lightning child installs a one-function shim that drops the
failed trial's traceback first (lightning_finder.release_failed_trial_first); ``--stock-lightning``
runs Lightning unmodified, and its crash shows as "crash" in the table.

Seen on the CNN (torch 2.13 CPU): Lightning's trials all run in one process, and oneDNN keeps
a convolution primitive (with its scratchpad) for every batch shape tried, so later trials
have less room and its answer comes out well under the reference's (ONEDNN_PRIMITIVE_CACHE_
CAPACITY=0 removes the effect, and changes what is measured, so it is not set here). Now and
then a oneDNN allocation under the cap fails as "RuntimeError: could not create a primitive",
which ``is_oom_error`` does not recognise: that run crashes and shows as failed (no shim for it;
with --repeat the medians are over the runs that answered).

Wall time is the parent's clock around the whole child process: interpreter start, imports,
start-up, the search, the answer written, exit. bsprof's per-trial times come from its JSON
(``trial_wall_s``: a fresh worker's whole job, or a shared worker's own trial), and where its
wall time went from the JSON's ``phases``; Lightning's from the child (all in one process,
from one trial's start to the next's).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAX_BATCH = 65536  # both tools' upper bound (bsprof's --max-batch, Lightning's max_val)
TIMEOUT_S = 3600


@dataclass(frozen=True)
class Workload:
    name: str
    model: str  # relative to the repository root
    cap: str  # bsprof's --memory-limit, and the same number of bytes for the others


WORKLOADS = (
    Workload("MLP", "examples/mnist_mlp.py", "64MiB"),  # a batch in the thousands
    Workload("CNN+BatchNorm", "examples/small_cnn.py", "128MiB"),  # about a hundred
    Workload("GPT-2 (4 layers)", "benchmarks/workloads/gpt2_small.py", "384MiB"),  # about ten
)


@dataclass
class Run:
    """One tool's run: its answer, wall time, and its trials (batch size, status, seconds)."""

    answer: int | None
    wall_s: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    startup_s: float | None = None  # Lightning: process start to the search's start
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)  # bsprof: its JSON's phases


def parse_size(text: str) -> int:
    from bsprof.units import parse_size as parse  # no torch

    return parse(text)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["BENCH_SPAWNED_AT"] = repr(time.time())
    return env


def timed(command: list[str], log: Path) -> tuple[int, float, str]:
    """Run a child process from the repository root; its exit code, wall time and stdout."""
    env = child_env()
    started = time.perf_counter()
    with log.open("w") as errors:
        done = subprocess.run(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True,
            timeout=TIMEOUT_S,
        )  # fmt: skip
    return done.returncode, time.perf_counter() - started, done.stdout


def tail(path: Path, lines: int = 3) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def run_bsprof(workload: Workload, scratch: Path) -> Run:
    out = scratch / "bsprof.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "bsprof", "sweep", workload.model, "--device", "cpu", "--exact",
        "--memory-limit", workload.cap, "--warmup", "1", "--iters", "2",
        "--max-batch", str(MAX_BATCH), "--json", str(out),
    ]  # fmt: skip
    code, wall, _ = timed(command, scratch / "bsprof.log")
    if code != 0 or not out.exists():
        return Run(None, wall, error=f"exit {code}: {tail(scratch / 'bsprof.log')}")
    result = json.loads(out.read_text())
    trials = [
        {"batch_size": r["batch_size"], "status": r["status"], "seconds": r["trial_wall_s"],
         "step_s": (r.get("time_per_iter_s") or {}).get("median"),
         "iterations": r["warmup_iters"] + len(r["time_per_iter_s"]["samples"])
         if r.get("time_per_iter_s") else None}
        for r in result["results"]
    ]  # fmt: skip
    phases = {p["phase"]: p["seconds"] for p in result.get("phases", [])}
    return Run(result["largest_fitting_batch"], wall, trials, phases=phases)


def run_lightning(workload: Workload, scratch: Path, stock: bool) -> Run:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "lightning_finder.py"), workload.model,
        str(parse_size(workload.cap)), str(MAX_BATCH), *(["--stock"] if stock else []),
    ]  # fmt: skip
    code, wall, stdout = timed(command, scratch / "lightning.log")
    if code != 0 or not stdout.strip():
        return Run(None, wall, error=f"crash (exit {code}): {tail(scratch / 'lightning.log', 1)}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return Run(result["answer"], wall, result["trials"], result["startup_s"])


class Reference:
    """tests/fits_reference.py in a fresh process per (model, batch, cap), remembered."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.known: dict[tuple[str, int, int], str] = {}

    def fits(self, model: str, batch_size: int, limit: int) -> str:
        key = (model, batch_size, limit)
        if key not in self.known:
            command = [sys.executable, "-m", "tests.fits_reference", model, str(batch_size)]
            code, _, _ = timed([*command, str(limit)], self.scratch / "reference.log")
            self.known[key] = {0: "fits", 3: "oom"}.get(code, f"error ({code})")
        return self.known[key]

    def verdict(self, model: str, answer: int | None, limit: int) -> str:
        """Whether the answer fits and one more does not ("ok"), or and what the loop found."""
        if answer is None:
            return "-"
        at, above = self.fits(model, answer, limit), self.fits(model, answer + 1, limit)
        if at == "fits" and above == "oom":
            return "ok"
        return f"B {at}, B+1 {above}"

    def boundary(self, model: str, limit: int) -> int | None:
        """The reference loop's own largest batch: bisected from the sizes checked so far
        (galloping outwards first when they all fit or all ran out of memory)."""
        known = {b: v for (m, b, c), v in self.known.items() if (m, c) == (model, limit)}
        if not known or any(v not in ("fits", "oom") for v in known.values()):
            return None
        low = max((b for b, v in known.items() if v == "fits"), default=0)
        if low == 0:
            if self.fits(model, 1, limit) != "fits":
                return None
            low = 1
        high = min((b for b, v in known.items() if v == "oom" and b > low), default=None)
        while high is None:
            if self.fits(model, 2 * low, limit) == "fits":
                low *= 2
            else:
                high = 2 * low
        while high - low > 1:
            middle = (low + high) // 2
            verdict = self.fits(model, middle, limit)
            if verdict not in ("fits", "oom"):
                return None
            low, high = (middle, high) if verdict == "fits" else (low, middle)
        return low


def import_seconds(model: str, repeat: int) -> float:
    """What any tool's process pays before its first trial: a fresh interpreter importing the
    model file (torch, its libraries) and torch._dynamo (which every optimizer's constructor
    imports), then exiting. Median of ``repeat`` runs."""
    code = f"import runpy, torch._dynamo; runpy.run_path({model!r})"
    walls = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), check=True,
                       capture_output=True, timeout=TIMEOUT_S)  # fmt: skip
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def answer_iterations_s(run: Run) -> float | None:
    """The iterations bsprof's answer B cannot do without, at the times its own trials
    measured: every doubling size up to B and B itself, each for its --warmup + --iters
    iterations (the table's rows and the fit), B + 1 not at all (it fails at some point in its
    first iterations). A lower bound: no process start, model build or out-of-memory counted."""
    if run.answer is None:
        return None
    needed = [
        t for t in run.trials
        if t["step_s"] is not None and t["batch_size"] <= run.answer
        and (t["batch_size"] == run.answer or t["batch_size"] & (t["batch_size"] - 1) == 0)
    ]  # fmt: skip
    return float(sum(t["step_s"] * t["iterations"] for t in needed))


def answers(runs: list[Run]) -> str:
    seen = sorted({run.answer for run in runs if run.answer is not None})
    crashed = sum(run.answer is None for run in runs)
    text = "/".join(str(a) for a in seen) or "-"
    return f"{text} ({crashed} failed)" if crashed and seen else ("crash" if crashed else text)


def median_wall(runs: list[Run]) -> float | None:
    walls = [run.wall_s for run in runs if run.answer is not None]
    return statistics.median(walls) if walls else None


def machine() -> list[str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    meminfo = dict(
        line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line
    )
    ram_gib = int(meminfo["MemTotal"].split()[0]) / 2**20
    available_gib = int(meminfo["MemAvailable"].split()[0]) / 2**20
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("torch", "lightning", "transformers")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: {platform.node()}, {model}, {os.cpu_count()} CPUs (affinity "
        f"{len(os.sched_getaffinity(0))}), {ram_gib:.1f} GiB RAM ({available_gib:.1f} available)",
        f"software: Python {platform.python_version()}, {versions}, {platform.platform()}",
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
        f"load average {load}",
    ]


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def trial_summary(run: Run) -> str:
    """Trials, how many ran out of memory, and the total and longest trial time."""
    times = [t["seconds"] for t in run.trials if t["seconds"] is not None]
    ooms = sum(t["status"] == "oom" for t in run.trials)
    return (
        f"{len(run.trials)} trials ({ooms} oom), {sum(times):.1f}s in trials, "
        f"longest {max(times, default=0.0):.2f}s"
    )


def compare(workload: Workload, args: argparse.Namespace, reference: Reference) -> dict[str, Any]:
    """Both tools on one workload, ``--repeat`` times each (alternated, so a busy spell on a
    shared machine hits both alike), their answers re-checked."""
    runs: dict[str, list[Run]] = {"bsprof": [], "lightning": []}
    for _ in range(args.repeat):
        runs["bsprof"].append(run_bsprof(workload, reference.scratch))
        runs["lightning"].append(run_lightning(workload, reference.scratch, args.stock_lightning))
        for name, tool_runs in runs.items():
            run = tool_runs[-1]
            print(
                f"  {workload.name}: {name} answered {run.answer} in {run.wall_s:.1f}s"
                + (f" [{run.error}]" if run.error else f"; {trial_summary(run)}"),
                flush=True,
            )
    model, limit = str(ROOT / workload.model), parse_size(workload.cap)
    row: dict[str, Any] = {"workload": workload.name, "model": workload.model, "cap": workload.cap}
    for name, tool_runs in runs.items():
        found = sorted({run.answer for run in tool_runs if run.answer is not None})
        row[name] = [vars(run) for run in tool_runs]
        row[f"{name}_answer"] = answers(tool_runs)
        row[f"{name}_s"] = median_wall(tool_runs)
        row[f"{name}_check"] = " / ".join(reference.verdict(model, a, limit) for a in found)
    row["reference"] = reference.boundary(model, limit) if args.boundary else None
    row["imports_s"] = import_seconds(model, args.repeat)
    iterations = [answer_iterations_s(run) for run in runs["bsprof"]]
    known = [i for i in iterations if i is not None]
    row["answer_iterations_s"] = statistics.median(known) if known else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the MLP only")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; medians reported")
    parser.add_argument(
        "--stock-lightning", action="store_true", help="Lightning without the traceback shim"
    )
    parser.add_argument(
        "--boundary",
        action="store_true",
        help="also bisect the reference loop's own largest batch (a fresh process per size)",
    )
    parser.add_argument("--json", type=Path, help="write every run's details here")
    args = parser.parse_args()
    header = machine()
    print("\n".join(header), flush=True)
    with tempfile.TemporaryDirectory(prefix="bsprof-vs-lightning-") as tmp:
        reference = Reference(Path(tmp))
        workloads = WORKLOADS[:1] if args.quick else WORKLOADS
        rows = [compare(workload, args, reference) for workload in workloads]
    print_table(rows, args.repeat, args.stock_lightning)
    print_time_split(rows)
    print_bsprof_phases(rows)
    print_floor(rows)
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": header, "rows": rows}, indent=1) + "\n")


def print_table(rows: list[dict[str, Any]], repeat: int, stock: bool) -> None:
    print()
    columns = (
        "workload", "cap", "bsprof B", "bsprof time", "Lightning B", "Lightning time",
        "bsprof/Lightning", "re-check bsprof", "re-check Lightning", "reference B",
    )  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        ratio = (
            f"{row['bsprof_s'] / row['lightning_s']:.2f}x"
            if row["bsprof_s"] and row["lightning_s"]
            else "-"
        )
        cells = (
            row["workload"], row["cap"], row["bsprof_answer"], seconds(row["bsprof_s"]),
            row["lightning_answer"], seconds(row["lightning_s"]), ratio,
            row["bsprof_check"] or "-", row["lightning_check"] or "-",
            "-" if row["reference"] is None else str(row["reference"]),
        )  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        f"times: wall clock of the whole fresh process, start to answer"
        f"{f', median of {repeat} runs' if repeat > 1 else ''}. Re-check: the plain reference "
        "loop (tests/fits_reference.py) in a fresh process, B fits and B+1 does not."
    )
    print(
        "Lightning: "
        + (
            "unmodified."
            if stock
            else "with the traceback shim (lightning_finder.release_failed_trial_first)."
        )
    )


def print_time_split(rows: list[dict[str, Any]]) -> None:
    """Where each run's time went: its trials, and the rest (start-up, search, exit)."""
    print()
    print("| workload | tool | run | wall | trials (oom) | in trials | outside trials |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        for tool in ("bsprof", "lightning"):
            for number, run in enumerate(row[tool], 1):
                times = [t["seconds"] for t in run["trials"] if t["seconds"] is not None]
                ooms = sum(t["status"] == "oom" for t in run["trials"])
                inside = sum(times)
                print(
                    f"| {row['workload']} | {tool} | {number} | {run['wall_s']:.1f}s | "
                    f"{len(run['trials'])} ({ooms}) | {inside:.1f}s | "
                    f"{run['wall_s'] - inside:.1f}s |"
                )


def print_bsprof_phases(rows: list[dict[str, Any]]) -> None:
    """bsprof's own account of each run (its JSON's ``phases``), median over the runs."""
    names: list[str] = []
    for row in rows:
        for run in row["bsprof"]:
            names += [name for name in run["phases"] if name not in names]
    print()
    print("| workload | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        runs = [run["phases"] for run in row["bsprof"] if run["phases"]]
        cells = [
            seconds(statistics.median(r.get(name, 0.0) for r in runs) if runs else None)
            for name in names
        ]
        print(f"| {row['workload']} | " + " | ".join(cells) + " |")


def print_floor(rows: list[dict[str, Any]]) -> None:
    """What bsprof cannot go under on this machine while its table's rows and its answer are
    measured with the asked iterations, one trial at a time: the imports and those iterations
    (answer_iterations_s), against half of Lightning's time."""
    print()
    print("| workload | imports | answer's iterations | floor | 0.5x Lightning | floor/Lightning |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        iterations, lightning = row["answer_iterations_s"], row["lightning_s"]
        floor = None if iterations is None else row["imports_s"] + iterations
        ratio = f"{floor / lightning:.2f}x" if floor and lightning else "-"
        half = None if lightning is None else lightning / 2
        print(
            f"| {row['workload']} | {seconds(row['imports_s'])} | {seconds(iterations)} | "
            f"{seconds(floor)} | {seconds(half)} | {ratio} |"
        )


if __name__ == "__main__":
    main()

"""Running a sweep from the command line: live progress, output files, the report, exit codes.

Shared by ``sweep`` and ``check --save-baseline``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bsprof.cli.app import error_console
from bsprof.cli.paths import OutputWriteError, check_outputs, write_failed
from bsprof.errors import EXIT_REGRESSION
from bsprof.lifetime import interrupt_exit_code, interrupt_name
from bsprof.phases import PhaseTime, process_age_s

if TYPE_CHECKING:
    from bsprof.config import SweepConfig
    from bsprof.result import SweepResult


@dataclass(frozen=True)
class SweepOutputs:
    json_path: Path | None = None
    csv_path: Path | None = None
    markdown_path: Path | None = None
    single_process: Path | None = None  # a one-process sweep to compute scaling against
    json_option: str = "--json"  # how the user named the JSON path (check: --save-baseline)

    def finish(self, result: SweepResult) -> SweepResult:
        """Add what needs another file (scaling efficiency), then write every output."""
        if self.single_process is not None:
            from bsprof.result import read_sweep
            from bsprof.summary import scaling_efficiency

            efficiency = scaling_efficiency(result, read_sweep(self.single_process))
            result = replace(result, scaling_efficiency=efficiency)
        self.write_final(result)
        return result

    def kept_text(self) -> str:
        """Where the partial results went, for the interrupted line."""
        paths = [str(p) for p in (self.json_path, self.csv_path, self.markdown_path) if p]
        return f"partial results kept in {', '.join(paths)}" if paths else "partial results shown"

    def validate(self, model: str) -> None:
        """Refuse unusable output paths before a long sweep, not after its first trial, and
        read --single-process now rather than after the sweep."""
        paths = {self.json_option: self.json_path, "--csv": self.csv_path}
        check_outputs({**paths, "--markdown": self.markdown_path}, model)
        if self.single_process is not None:
            from bsprof.result import read_sweep

            read_sweep(self.single_process)

    def write(self, result: SweepResult) -> None:
        from bsprof.result import write_json_atomic

        if self.json_path is not None:
            try:
                write_json_atomic(self.json_path, result.to_dict())
            except OSError as exc:
                raise write_failed(self.json_option, self.json_path, exc, result) from None

    def write_final(self, result: SweepResult) -> None:
        from bsprof.report.csv import write_csv
        from bsprof.report.markdown import write_markdown

        self.write(result)
        for option, path, writer in (
            ("--csv", self.csv_path, write_csv),
            ("--markdown", self.markdown_path, write_markdown),
        ):
            if path is not None:
                try:
                    writer(result, path)
                except OSError as exc:
                    raise write_failed(option, path, exc, result) from None


def run_sweep_command(config: SweepConfig, outputs: SweepOutputs) -> int:
    """Run, report and write; the exit code: 0 a batch fits, 1 nothing fits, 130 interrupted."""
    from bsprof.api import run
    from bsprof.report import make_console
    from bsprof.report.progress import SweepProgress
    from bsprof.report.sweep import render_sweep
    from bsprof.runner.torchrun import under_torchrun
    from bsprof.sweeper import SweepInterrupted

    if under_torchrun():
        return _run_as_a_rank(config, outputs)
    started_up = process_age_s()  # the interpreter, bsprof's imports and the command line
    console = make_console()
    try:
        with SweepProgress(make_console(stderr=True), outputs.write) as progress:
            result = run(config, progress)
    except OutputWriteError as failed:
        if failed.partial is not None:
            render_sweep(failed.partial, console)
        raise
    except SweepInterrupted as interrupted:
        partial = outputs.finish(interrupted.partial)
        render_sweep(partial, console)
        kept = outputs.kept_text()
        error_console().print(f"bsprof: {interrupt_name(interrupted.cause)}; {kept}")
        return interrupt_exit_code(interrupted.cause)
    if started_up is not None:
        result = replace(result, phases=(PhaseTime("start-up", started_up), *result.phases))
    try:
        result = outputs.finish(result)
    finally:
        render_sweep(result, console)  # shown even when an output cannot be written
    if not result.anything_fits:
        smallest = min(r.batch_size for r in result.results)
        error_console().print(
            f"bsprof: nothing fits: no batch size ran successfully (smallest tried: {smallest})"
        )
        return EXIT_REGRESSION
    return 0


def _run_as_a_rank(config: SweepConfig, outputs: SweepOutputs) -> int:
    """Started by the user's torchrun: this process is one rank; rank 0 reports."""
    from bsprof.device import CPU, CUDA
    from bsprof.report import make_console
    from bsprof.report.sweep import render_sweep
    from bsprof.runner.rank import run_ranked_sweep

    device = config.device
    if device.is_auto:
        import torch

        device = CUDA if torch.cuda.is_available() else CPU
    result = run_ranked_sweep(config, CUDA if device.is_cuda else CPU)
    if result is None:
        return 0
    result = outputs.finish(result)
    render_sweep(result, make_console())
    return 0 if result.anything_fits else EXIT_REGRESSION

"""Show a NoiseScaleEstimate: a few lines in the terminal (rich) or a Markdown file."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from bsprof.atomic import write_text_atomic
from bsprof.noise import NoiseScaleEstimate
from bsprof.noise_text import NOT_RESOLVED
from bsprof.report.common import HEADING_STYLE, NOTE_STYLE, WARNING_STYLE, print_paragraph
from bsprof.units import format_count, format_number


def title_line(estimate: NoiseScaleEstimate) -> str:
    return f"Gradient noise scale of {estimate.model} on {estimate.device}"


def answer_line(estimate: NoiseScaleEstimate) -> str:
    """B_noise and its interval, or why there is none."""
    if estimate.b_noise is None:
        return NOT_RESOLVED
    answer = f"B_noise ~ {format_number(estimate.b_noise)} samples"
    interval = f"{estimate.confidence:.0%} bootstrap interval"
    if estimate.ci_low is None:
        return f"{answer} ({interval} not derivable: too few resamples resolve |G|^2)"
    # an upper bound on a resample that did not resolve |G|^2 is unbounded
    high = "unbounded" if estimate.ci_high is None else format_number(estimate.ci_high)
    return f"{answer} ({interval} {format_number(estimate.ci_low)} to {high})"


def detail_lines(estimate: NoiseScaleEstimate) -> list[str]:
    """How it was measured and the estimates behind the ratio."""
    return [
        f"From {format_count(estimate.gradients)} gradients at batch "
        f"{format_count(estimate.small_batch)} and {format_count(estimate.big_gradients)} at "
        f"batch {format_count(estimate.big_batch)} (means of {estimate.accum}), seed "
        f"{estimate.seed}; {format_count(estimate.bootstrap_resamples)} bootstrap resamples of "
        "the groups.",
        f"|G|^2 ~ {format_number(estimate.grad_sq_norm)}, tr(Sigma) ~ "
        f"{format_number(estimate.trace_sigma)}; mean |g_b|^2 = "
        f"{format_number(estimate.mean_small_sq_norm)}, mean |g_B|^2 = "
        f"{format_number(estimate.mean_big_sq_norm)}.",
    ]


def _notes(estimate: NoiseScaleEstimate) -> list[str]:
    """The record's notes less the not-resolved one, which the answer line already says."""
    return [note for note in estimate.notes if note != NOT_RESOLVED]


def render_noise(estimate: NoiseScaleEstimate, console: Console) -> None:
    print_paragraph(console, title_line(estimate), HEADING_STYLE)
    style = HEADING_STYLE if estimate.resolved else WARNING_STYLE
    print_paragraph(console, answer_line(estimate), style)
    for line in detail_lines(estimate):
        print_paragraph(console, line)
    for warning in estimate.warnings:
        print_paragraph(console, f"Warning: {warning}", WARNING_STYLE)
    for note in _notes(estimate):
        print_paragraph(console, f"Note: {note}", NOTE_STYLE)


def noise_markdown(estimate: NoiseScaleEstimate) -> str:
    lines = [f"## {title_line(estimate)}", "", f"**{answer_line(estimate)}**", ""]
    lines += [f"- {line}" for line in detail_lines(estimate)]
    lines += [f"- **Warning:** {warning}" for warning in estimate.warnings]
    lines += [f"- Note: {note}" for note in _notes(estimate)]
    return "\n".join(lines) + "\n"


def write_noise_markdown(estimate: NoiseScaleEstimate, path: Path) -> None:
    write_text_atomic(path, noise_markdown(estimate))

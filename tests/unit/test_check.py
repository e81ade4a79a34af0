"""``bsprof check``'s comparison: threshold expressions, defaults, verdicts and reports, on
hand-built sweeps with exact numbers."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from rich.console import Console

from bsprof.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_REGRESSION,
    ConfigError,
    InputFileError,
)
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.regression import (
    ACCEPTED_FORMS,
    FITS,
    Comparison,
    Threshold,
    Verdict,
    compare,
    default_thresholds,
    fingerprint,
    parse_threshold,
    timing_comparable,
    timing_verdict,
    value_verdict,
)
from bsprof.report.check import HEADERS, check_markdown, check_table, render_check
from bsprof.result import SweepResult
from tests.conftest import ok_trial, prediction, sweep_result

MIB = 2**20
GIB = 2**30
ENV = {
    "host": "ci",
    "torch": "2.3.0",
    "device": "cpu",
    "gpus": [],
    "torch_threads": 8,
    "cpu_count": 16,
}
CONFIG = {"model": "m.py", "mode": "train", "precision": "fp32", "world_size": 1}
STEADY = (0.100, 0.099, 0.101, 0.100, 0.102)  # median 0.100, IQR 0.001: 1% noise
SHIFT_NOISE = 0.01


def predicted_sweep(peaks: dict[int, int], oom: tuple[int, ...] = ()) -> SweepResult:
    """A prediction sweep: batch b predicts peaks[b]; batches in ``oom`` do not fit."""
    records = tuple(
        TrialRecord(
            batch,
            TrialStatus.OOM if batch in oom else TrialStatus.OK,
            prediction=prediction(peak, flops=batch * 10**9, device=peak + 512 * MIB),
        )
        for batch, peak in sorted(peaks.items())
    )
    return sweep_result(*records, environment=ENV, config={**CONFIG, "predict": True})


def timed(batch: int, samples: tuple[float, ...], peak: int | None = GIB) -> TrialRecord:
    return ok_trial(batch, samples, peak)


def measured_sweep(*records: TrialRecord, environment: dict[str, object] = ENV) -> SweepResult:
    return sweep_result(*records, environment=environment, config={**CONFIG, "predict": False})


def scaled(samples: tuple[float, ...], factor: float) -> tuple[float, ...]:
    return tuple(s * factor for s in samples)


# ---- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("peak_memory:+2%", Threshold("peak_memory", relative=0.02)),
        ("peak_memory:+64MiB", Threshold("peak_memory", absolute=64 * MIB)),
        ("predicted_peak:+1%", Threshold("predicted_peak", relative=0.01)),
        ("device_memory:+1GiB", Threshold("device_memory", absolute=GIB)),
        ("flops:+0.5%", Threshold("flops", relative=0.005)),
        ("throughput:-10%", Threshold("throughput", relative=0.10)),
        ("time_per_iter:+15%", Threshold("time_per_iter", relative=0.15)),
        ("time_per_iter:+12ms", Threshold("time_per_iter", absolute=0.012)),
        ("largest_batch:-1", Threshold("largest_batch", absolute=1)),
        ("largest_batch:-25%", Threshold("largest_batch", relative=0.25)),
        ("peak_memory:2%", Threshold("peak_memory", relative=0.02)),  # unsigned: worse way
        (" Peak-Memory : +2 % ", Threshold("peak_memory", relative=0.02)),
        ("flops:+0%", Threshold("flops", relative=0.0)),
    ],
)
def test_accepted_forms(text: str, expected: Threshold) -> None:
    assert parse_threshold(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("throughput:+10%", "throughput regresses downward (lower is worse)"),
        ("peak_memory:-2%", "peak_memory regresses upward (higher is worse)"),
        ("largest_batch:+1", "largest_batch regresses downward"),
        ("time_per_iter:+64MiB", "64MiB is a size, for memory metrics"),
        ("peak_memory:+12ms", "12ms is a duration"),
        ("time_per_iter:+5", "a duration with a unit, e.g. +12ms"),
        ("flops:+1000", "flops takes a percentage, e.g. flops:+0.5%"),
        ("throughput:-100", "throughput takes a percentage"),
        ("throughput:-100%", "cannot drop by 100% or more"),
        ("largest_batch:-1.5", "a whole number, at least 1"),
        ("largest_batch:-0", "a whole number, at least 1"),
        ("memory:+2%", "unknown metric 'memory'"),
        ("peak_memory", "expected METRIC:LIMIT"),
        ("peak_memory:+abc%", "'abc'% is not a number"),
        ("peak_memory:+12zz", "unknown size unit 'zz'"),
        ("time_per_iter:+3 parsecs", "unknown time unit 'parsecs'"),
    ],
)
def test_errors_are_usage_errors_listing_the_accepted_forms(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:  # a UsageError naming its setting
        parse_threshold(text)
    assert caught.value.message.startswith(f"fail_on {text!r}: ")  # the API's name
    message = caught.value.cli_message
    assert message.startswith(f"--fail-on {text!r}: ")
    assert why in message
    assert message.endswith(ACCEPTED_FORMS)
    assert caught.value.exit_code == 2
    assert "\n" not in message


def test_the_accepted_forms_name_every_metric_with_its_direction() -> None:
    for name in ("peak_memory (+)", "predicted_peak (+)", "device_memory (+)", "flops (+)",
                 "time_per_iter (+)", "throughput (-)", "largest_batch (-)"):  # fmt: skip
        assert name in ACCEPTED_FORMS


def test_limits_read_as_written() -> None:
    assert parse_threshold("peak_memory:+2%").limit_text == "+2%"
    assert parse_threshold("flops:+0.5%").limit_text == "+0.5%"
    assert parse_threshold("throughput:-10%").limit_text == "-10%"
    assert parse_threshold("peak_memory:+64MiB").limit_text == "+64.0 MiB"
    assert parse_threshold("time_per_iter:+12ms").limit_text == "+12.0 ms"
    assert parse_threshold("largest_batch:-1").limit_text == "-1"


def test_a_threshold_is_validated_when_built() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Threshold("flops")
    with pytest.raises(ValueError, match="only a relative limit"):
        Threshold("throughput", absolute=5.0)
    with pytest.raises(ValueError, match="unknown metric"):
        Threshold("speed", relative=0.1)
    with pytest.raises(ValueError, match="not negative"):
        Threshold("flops", relative=-0.1)


# ---- defaults and fingerprints --------------------------------------------------------------


def test_defaults_gate_predictions_and_measured_memory_and_warn_on_timings() -> None:
    gating = (
        Threshold("predicted_peak", relative=0.01),
        Threshold("device_memory", relative=0.01),
        Threshold("flops", relative=0.01),
        Threshold("largest_batch", absolute=1),
    )
    assert default_thresholds(predicted_sweep({8: GIB})) == gating
    assert default_thresholds(measured_sweep(timed(8, STEADY))) == (
        *gating,
        Threshold("peak_memory", relative=0.05),
        Threshold("time_per_iter", relative=0.10, gating=False),
        Threshold("throughput", relative=0.10, gating=False),
    )


def test_fingerprint_and_its_differences() -> None:
    gpu_env = {**ENV, "device": "cuda:0", "gpus": [{"name": "NVIDIA A100", "index": 0}]}
    baseline = measured_sweep(timed(8, STEADY), environment=gpu_env)
    assert fingerprint(baseline) == {
        "torch": "2.3.0",
        "device": "cuda:0",
        "gpus": ["NVIDIA A100"],
        "torch_threads": 8,
        "cpu_count": 16,
        "precision": "fp32",
        "mode": "train",
        "world_size": 1,
    }
    other = {**gpu_env, "torch": "2.4.0", "gpus": [{"name": "NVIDIA H100"}], "host": "elsewhere"}
    current = measured_sweep(timed(8, STEADY), environment=other)
    assert timing_comparable(baseline, baseline) == (True, [])
    assert timing_comparable(baseline, current) == (
        False,
        ["torch 2.3.0 -> 2.4.0", "gpus NVIDIA A100 -> NVIDIA H100"],
    )


# ---- deterministic comparisons ----------------------------------------------------------------


def test_identical_results_pass() -> None:
    sweep = predicted_sweep({8: GIB, 64: 4 * GIB})
    report = compare(sweep, sweep, None)
    assert report.verdict is Verdict.PASS and report.exit_code == EXIT_OK
    # predicted_peak, device_memory and flops at 8 and 64, and one largest_batch
    assert len(report.comparisons) == 7
    assert {c.verdict for c in report.comparisons} == {Verdict.PASS}
    assert all(c.gating for c in report.comparisons)
    assert report.warnings == ()
    assert report.summary_line == "bsprof check: pass (7 comparisons, 0 regressions)"


def test_25_percent_more_predicted_peak_is_a_regression_naming_the_metric() -> None:
    baseline = predicted_sweep({8: GIB, 64: 4 * GIB})
    current = predicted_sweep({8: GIB, 64: 5 * GIB})
    report = compare(baseline, current, None)
    assert report.verdict is Verdict.REGRESSION and report.exit_code == EXIT_REGRESSION
    peak = [c for c in report.regressions if c.metric == "predicted_peak"]
    assert peak == [
        Comparison(
            "predicted_peak", 64, 4.0 * GIB, 5.0 * GIB, 0.25, Verdict.REGRESSION, True,
            threshold=Threshold("predicted_peak", relative=0.01),
        )
    ]  # fmt: skip
    assert report.summary_line == (
        "bsprof check: REGRESSION: predicted_peak +25.0% at batch 64 (limit +1%); "
        "1 more regression"  # device_memory grew by the same GiB
    )


def test_growth_up_to_the_limit_passes_and_a_drop_beyond_it_is_an_improvement() -> None:
    limit = Threshold("flops", relative=0.01)
    assert value_verdict(100.0, 101.0, limit) is Verdict.PASS  # exactly +1%: within
    assert value_verdict(100.0, 101.5, limit) is Verdict.REGRESSION
    assert value_verdict(100.0, 98.0, limit) is Verdict.IMPROVED
    assert value_verdict(0.0, 1.0, limit) is Verdict.REGRESSION  # from nothing: any growth


def test_an_explicit_absolute_memory_limit() -> None:
    baseline = measured_sweep(timed(8, STEADY, peak=GIB), timed(16, STEADY, peak=2 * GIB))
    current = measured_sweep(
        timed(8, STEADY, peak=GIB + 60 * MIB), timed(16, STEADY, peak=2 * GIB + 65 * MIB)
    )
    report = compare(baseline, current, [parse_threshold("peak_memory:+64MiB")])
    memory = [c for c in report.comparisons if c.metric == "peak_memory"]
    assert [(c.batch_size, c.verdict, c.gating) for c in memory] == [
        (8, Verdict.PASS, True),
        (16, Verdict.REGRESSION, True),
    ]
    assert report.exit_code == EXIT_REGRESSION
    assert report.summary_line == (
        "bsprof check: REGRESSION: peak_memory +3.2% at batch 16 (limit +64.0 MiB)"
    )


def test_measured_memory_gates_at_5_percent_by_default() -> None:
    baseline = measured_sweep(timed(8, STEADY, peak=GIB))
    current = measured_sweep(timed(8, STEADY, peak=int(1.06 * GIB)))
    report = compare(baseline, current, None)
    assert report.exit_code == EXIT_REGRESSION
    (memory,) = [c for c in report.comparisons if c.metric == "peak_memory"]
    assert memory.verdict is Verdict.REGRESSION and memory.gating
    assert report.regressed_measured_batches() == (8,)  # measured once more before it fails
    within = compare(baseline, measured_sweep(timed(8, STEADY, peak=int(1.04 * GIB))), None)
    assert within.exit_code == EXIT_OK


def test_measured_memory_within_its_noise_floor_passes() -> None:
    """20% of 4 MiB is 0.8 MiB: less than a measured peak moves between identical runs."""
    baseline = measured_sweep(timed(8, STEADY, peak=4 * MIB))
    current = measured_sweep(timed(8, STEADY, peak=int(4.8 * MIB)))
    assert compare(baseline, current, None).exit_code == EXIT_OK
    larger = measured_sweep(timed(8, STEADY, peak=int(5.2 * MIB)))
    assert compare(baseline, larger, None).exit_code == EXIT_REGRESSION


def test_predictions_that_failed_their_self_check_do_not_gate() -> None:
    baseline = predicted_sweep({8: GIB})
    current = predicted_sweep({8: 2 * GIB})
    unverified = replace(
        current,
        results=tuple(
            replace(r, prediction=replace(r.prediction, verified=False))
            for r in current.results
            if r.prediction is not None
        ),
    )
    assert compare(baseline, current, None).exit_code == EXIT_REGRESSION
    report = compare(baseline, unverified, None)
    assert report.exit_code == EXIT_OK
    (peak,) = [c for c in report.comparisons if c.metric == "predicted_peak"]
    assert peak.verdict is Verdict.REGRESSION and not peak.gating
    assert "failed its self-check in this run" in peak.note
    assert report.warnings[0] == (
        "predicted metrics do not gate: the prediction failed its self-check in this run"
    )


def test_a_drop_of_the_largest_fitting_batch_fails() -> None:
    baseline = predicted_sweep({8: GIB, 16: 2 * GIB, 32: 4 * GIB}, oom=(32,))
    current = predicted_sweep({8: GIB, 16: 2 * GIB, 32: 4 * GIB}, oom=(16, 32))
    report = compare(baseline, current, None)
    assert report.exit_code == EXIT_REGRESSION
    (largest,) = [c for c in report.comparisons if c.metric == "largest_batch"]
    assert (largest.batch_size, largest.baseline, largest.current) == (None, 16.0, 8.0)
    assert largest.change == -0.5 and largest.verdict is Verdict.REGRESSION and largest.gating
    assert "largest_batch 16 -> 8 (limit -1)" in [c.describe() for c in report.regressions]


def test_a_largest_batch_limit_of_n_fails_on_a_drop_of_n_or_more() -> None:
    limit = parse_threshold("largest_batch:-4")
    assert value_verdict(64.0, 61.0, limit) is Verdict.PASS
    assert value_verdict(64.0, 60.0, limit) is Verdict.REGRESSION
    assert value_verdict(64.0, 68.0, limit) is Verdict.IMPROVED
    assert value_verdict(64.0, 63.0, parse_threshold("largest_batch:-1")) is Verdict.REGRESSION


def test_a_batch_that_no_longer_fits_is_its_own_regression() -> None:
    baseline = measured_sweep(timed(8, STEADY), timed(16, STEADY))
    oom = TrialRecord(16, TrialStatus.OOM, error="CUDA out of memory. Tried to allocate 2 GiB")
    current = measured_sweep(timed(8, STEADY), oom)
    report = compare(baseline, current, None)
    fits = [c for c in report.comparisons if c.metric == FITS]
    assert fits == [
        Comparison(
            FITS, 16, 1.0, 0.0, None, Verdict.REGRESSION, True,
            note="CUDA out of memory. Tried to allocate 2 GiB",
        )
    ]  # fmt: skip
    assert report.summary_line.startswith(
        "bsprof check: REGRESSION: batch 16 no longer fits (CUDA out of memory."
    )
    assert report.summary_line.endswith("; 1 more regression")  # the largest batch, 16 -> 8


def test_a_size_skipped_above_a_new_oom_also_no_longer_fits() -> None:
    baseline = measured_sweep(timed(8, STEADY), timed(16, STEADY), timed(32, STEADY))
    current = measured_sweep(
        timed(8, STEADY),
        TrialRecord(16, TrialStatus.OOM, error="out of memory"),
        TrialRecord(32, TrialStatus.SKIPPED, error="above batch 16, which ran out of memory"),
    )
    report = compare(baseline, current, None)
    assert [(c.batch_size, c.verdict) for c in report.comparisons if c.metric == FITS] == [
        (16, Verdict.REGRESSION),
        (32, Verdict.REGRESSION),
    ]


def test_a_batch_that_fits_now_is_an_improvement() -> None:
    baseline = predicted_sweep({8: GIB, 16: 2 * GIB}, oom=(16,))
    current = predicted_sweep({8: GIB, 16: 2 * GIB})
    report = compare(baseline, current, None)
    assert report.exit_code == EXIT_OK
    assert [(c.metric, c.verdict) for c in report.comparisons if c.batch_size in (16, None)] == [
        (FITS, Verdict.IMPROVED),
        ("largest_batch", Verdict.IMPROVED),
    ]


def test_a_lost_batch_only_warns_when_the_user_tolerates_a_drop() -> None:
    baseline = predicted_sweep({8: GIB, 16: 2 * GIB})
    current = predicted_sweep({8: GIB, 16: 2 * GIB}, oom=(16,))
    report = compare(baseline, current, [parse_threshold("largest_batch:-50%")])
    assert report.exit_code == EXIT_OK  # 16 -> 8 is a drop of exactly 50%
    (fits,) = [c for c in report.comparisons if c.metric == FITS]
    assert fits.verdict is Verdict.REGRESSION and not fits.gating


def test_a_baseline_for_other_batch_sizes_is_an_input_error() -> None:
    baseline = predicted_sweep({8: GIB, 64: 4 * GIB})
    current = predicted_sweep({16: 2 * GIB})
    with pytest.raises(InputFileError) as caught:
        compare(baseline, current, None)
    assert caught.value.message == (
        "the baseline is for other batch sizes: batch 8, 64 ran in the baseline but not in "
        "this run (which ran 16)"
    )


def test_a_batch_that_now_fails_for_another_reason_is_an_input_error() -> None:
    baseline = measured_sweep(timed(1, STEADY), timed(8, STEADY))
    error = "Expected more than 1 value per channel when training\n  (batch_norm)"
    current = measured_sweep(TrialRecord(1, TrialStatus.ERROR, error=error), timed(8, STEADY))
    with pytest.raises(InputFileError, match=r"^batch 1 ran in the baseline but ended in error"):
        compare(baseline, current, None)


def test_an_oom_in_the_baseline_need_not_be_rerun() -> None:
    baseline = predicted_sweep({8: GIB, 16: 2 * GIB}, oom=(16,))
    current = predicted_sweep({8: GIB})
    assert compare(baseline, current, None).exit_code == EXIT_OK


def test_a_metric_missing_on_one_side_is_skipped_unless_named() -> None:
    baseline = measured_sweep(timed(8, STEADY))
    with_prediction = replace(timed(8, STEADY), prediction=prediction(GIB))
    current = measured_sweep(with_prediction)
    report = compare(baseline, current, None)
    assert "predicted_peak" not in {c.metric for c in report.comparisons}
    named = compare(baseline, current, [parse_threshold("predicted_peak:+1%")])
    (row,) = [c for c in named.comparisons if c.metric == "predicted_peak"]
    assert (row.batch_size, row.verdict, row.gating) == (None, Verdict.NOT_COMPARABLE, False)
    assert row.note == "no predicted_peak in the baseline"
    assert named.exit_code == EXIT_OK
    assert "not compared: predicted_peak: no predicted_peak in the baseline" in named.warnings


def test_a_timing_limit_on_a_prediction_says_why_it_was_not_compared() -> None:
    sweep = predicted_sweep({8: GIB})
    report = compare(sweep, sweep, [parse_threshold("time_per_iter:+10%")])
    (row,) = [c for c in report.comparisons if c.metric == "time_per_iter"]
    assert row.note == (
        "no time_per_iter in the baseline or this run (a prediction-only sweep measures nothing)"
    )


def test_given_limits_gate_and_the_other_defaults_only_warn() -> None:
    baseline = predicted_sweep({8: GIB})
    current = predicted_sweep({8: 2 * GIB})  # predicted and device memory both grow
    report = compare(baseline, current, [parse_threshold("flops:+1%")])
    assert report.exit_code == EXIT_OK
    gates = {c.metric: c.gating for c in report.comparisons}
    assert gates == {
        "flops": True,
        "predicted_peak": False,
        "device_memory": False,
        "largest_batch": False,
    }
    assert len(report.warnings) == 2


# ---- timings ------------------------------------------------------------------------------


def test_timing_verdict_bands() -> None:
    """Baseline 0.09/0.10/0.11: median 0.10, IQR 0.01 (10% noise); limit +10%."""
    noisy = TimingStats((0.09, 0.10, 0.11))
    limit = Threshold("time_per_iter", relative=0.10)

    def verdict(median: float) -> Verdict:
        return timing_verdict(noisy, TimingStats((median,) * 3), limit, higher_is_worse=True)

    assert verdict(0.099) is Verdict.PASS  # -1%: within limit - noise (0%)
    assert verdict(0.115) is Verdict.INCONCLUSIVE  # +15%: between 0% and 20%
    assert verdict(0.105) is Verdict.INCONCLUSIVE  # +5%
    assert verdict(0.125) is Verdict.REGRESSION  # +25% > 20%
    assert verdict(0.075) is Verdict.IMPROVED  # -25% < -20%
    one = TimingStats((0.1,))
    assert timing_verdict(one, one, limit, higher_is_worse=True) is Verdict.INCONCLUSIVE


def test_throughput_compares_the_inverse_of_the_medians() -> None:
    base = TimingStats((0.1, 0.1, 0.1))
    limit = Threshold("throughput", relative=0.10)
    # 0.1 -> 0.112 s: throughput drops 10.7%, beyond 10%; 0.111 s: 9.9%, within.
    assert timing_verdict(base, TimingStats((0.112,) * 3), limit, False) is Verdict.REGRESSION
    assert timing_verdict(base, TimingStats((0.111,) * 3), limit, False) is Verdict.PASS
    assert timing_verdict(base, TimingStats((0.09,) * 3), limit, False) is Verdict.IMPROVED


def test_an_absolute_time_limit_is_relative_to_the_baseline_median() -> None:
    base = TimingStats((0.1, 0.1, 0.1))
    limit = parse_threshold("time_per_iter:+5ms")  # 5% of 100 ms
    assert timing_verdict(base, TimingStats((0.104,) * 3), limit, True) is Verdict.PASS
    assert timing_verdict(base, TimingStats((0.106,) * 3), limit, True) is Verdict.REGRESSION


def timing_report(current_samples: tuple[float, ...], limit: str) -> tuple[Comparison, int]:
    baseline = measured_sweep(timed(4, STEADY))
    current = measured_sweep(timed(4, current_samples))
    report = compare(baseline, current, [parse_threshold(limit)])
    (row,) = [c for c in report.comparisons if c.metric == limit.split(":")[0]]
    return row, report.exit_code


def test_a_clear_timing_regression() -> None:
    row, code = timing_report(scaled(STEADY, 1.3), "time_per_iter:+10%")
    assert row.verdict is Verdict.REGRESSION and row.gating and code == EXIT_REGRESSION
    assert row.change == pytest.approx(0.30)
    assert row.note == "noise 1.0%"
    baseline = measured_sweep(timed(4, STEADY), timed(8, STEADY))
    current = measured_sweep(timed(4, scaled(STEADY, 1.3)), timed(8, STEADY))
    report = compare(baseline, current, [parse_threshold("throughput:-10%")])
    assert report.regressed_measured_batches() == (4,)


def test_a_clear_timing_pass() -> None:
    row, code = timing_report(scaled(STEADY, 1.02), "time_per_iter:+10%")
    assert row.verdict is Verdict.PASS and code == EXIT_OK


def test_noisy_timings_are_inconclusive() -> None:
    noisy = (0.08, 0.09, 0.105, 0.12, 0.13)  # median 0.105, IQR 0.03: 28.6% noise
    row, code = timing_report(noisy, "time_per_iter:+10%")
    assert row.verdict is Verdict.INCONCLUSIVE and code == EXIT_INCONCLUSIVE
    assert row.note == (
        "noise 28.6% (IQR/median) is too wide to decide: raise --iters or --min-time"
    )


def test_a_timing_improvement() -> None:
    row, code = timing_report(scaled(STEADY, 0.7), "throughput:-10%")
    assert row.verdict is Verdict.IMPROVED and code == EXIT_OK
    assert row.change == pytest.approx(1 / 0.7 - 1)  # throughput rose 42.9%


def test_timings_only_warn_by_default() -> None:
    baseline = measured_sweep(timed(4, STEADY))
    current = measured_sweep(timed(4, scaled(STEADY, 1.5)))
    report = compare(baseline, current, None)
    assert report.exit_code == EXIT_OK
    assert report.regressed_measured_batches() == ()  # nothing gating to confirm
    assert report.warnings == (
        "regression (warning only): time_per_iter +50.0% at batch 4 (limit +10%)",
        "regression (warning only): throughput -33.3% at batch 4 (limit -10%)",
    )


def test_timings_from_another_torch_are_not_comparable() -> None:
    baseline = measured_sweep(timed(4, STEADY))
    current = measured_sweep(timed(4, scaled(STEADY, 2.0)), environment={**ENV, "torch": "2.4.0"})
    report = compare(baseline, current, [parse_threshold("time_per_iter:+10%")])
    timing = [c for c in report.comparisons if c.metric in ("time_per_iter", "throughput")]
    assert [(c.verdict, c.gating) for c in timing] == [(Verdict.NOT_COMPARABLE, False)] * 2
    assert timing[0].note == "environments differ: torch 2.3.0 -> 2.4.0"
    assert report.exit_code == EXIT_OK
    assert report.warnings == (
        "timings not comparable across environments (torch 2.3.0 -> 2.4.0): not gated",
    )


# ---- reports ------------------------------------------------------------------------------


def regressed_report() -> tuple[SweepResult, SweepResult]:
    baseline = measured_sweep(timed(4, STEADY, peak=GIB), timed(8, STEADY, peak=2 * GIB))
    current = measured_sweep(
        timed(4, scaled(STEADY, 1.3), peak=GIB), timed(8, STEADY, peak=3 * GIB)
    )
    return baseline, current


def test_report_to_dict_is_strict_json() -> None:
    baseline, current = regressed_report()
    report = compare(baseline, current, [parse_threshold("time_per_iter:+10%")])
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["schema_version"] == 1
    assert data["verdict"] == "regression" and data["exit_code"] == 1
    assert data["summary"] == report.summary_line
    assert data["comparisons"][0] == {
        "metric": "time_per_iter",
        "batch_size": 4,
        "baseline": pytest.approx(0.1),
        "current": pytest.approx(0.13),
        "change": pytest.approx(0.3),
        "verdict": "regression",
        "gating": True,
        "limit": "+10%",
        "note": "noise 1.0%",
    }


def test_markdown_has_the_verdict_heading_and_a_row_per_comparison() -> None:
    baseline, current = regressed_report()
    report = compare(baseline, current, [parse_threshold("time_per_iter:+10%")])
    markdown = check_markdown(report)
    lines = markdown.splitlines()
    assert lines[0] == f"### {report.summary_line}"
    assert lines[2] == "| " + " | ".join(HEADERS) + " |"
    assert lines[3] == "|---|---:|---:|---:|---:|---:|---|---|"
    rows = [line for line in lines[4:] if line.startswith("|")]
    assert len(rows) == len(report.comparisons) == 7
    assert rows[0] == (
        "| time_per_iter | 4 | 100.0 ms | 130.0 ms | +30.0% | +10% | regression | noise 1.0% |"
    )
    assert "| peak_memory | 8 | 2.0 GiB | 3.0 GiB | +50.0% | +5% | regression (warn) |  |" in rows
    assert "| largest_batch | - | 8 | 8 | +0.0% | -1 | pass (warn) |  |" in rows
    assert "- warning: regression (warning only): peak_memory +50.0% at batch 8" in markdown


def test_markdown_escapes_pipes() -> None:
    baseline = measured_sweep(timed(4, STEADY))
    current = measured_sweep(TrialRecord(4, TrialStatus.OOM, error="out of memory | cuda"))
    markdown = check_markdown(compare(baseline, current, None))
    assert "| fits | 4 | fits | does not fit | - | - | regression | out of memory \\| cuda |" in (
        markdown
    )


def test_values_are_formatted_by_kind() -> None:
    baseline = predicted_sweep({8: GIB})
    current = replace(
        baseline, results=(replace(timed(8, STEADY), prediction=prediction(GIB, flops=8 * 10**9)),)
    )
    report = compare(baseline, current, [parse_threshold("flops:+1%")])
    cells = {row[0]: row for row in check_table(report)}
    assert cells["flops"][2:5] == ["8.00 GFLOP", "8.00 GFLOP", "+0.0%"]
    assert cells["predicted_peak"][2:4] == ["1.0 GiB", "1.0 GiB"]
    timing = compare(*regressed_report(), None)
    rows = {(row[0], row[1]): row for row in check_table(timing)}
    assert rows[("throughput", "4")][2:4] == ["40.0 samples/s", "30.8 samples/s"]


def test_render_check_prints_the_table_warnings_and_verdict() -> None:
    baseline, current = regressed_report()
    report = compare(baseline, current, [parse_threshold("time_per_iter:+10%")])
    buffer = io.StringIO()
    render_check(report, Console(file=buffer, width=140, color_system=None))
    out = buffer.getvalue()
    lines = out.splitlines()
    header = next(line for line in lines if "metric" in line)
    assert header.split() == list(HEADERS)
    row = next(line for line in lines if line.lstrip().startswith("time_per_iter"))
    assert row.split() == [
        "time_per_iter", "4", "100.0", "ms", "130.0", "ms", "+30.0%", "+10%", "regression",
        "noise", "1.0%",
    ]  # fmt: skip
    assert "warning: regression (warning only): peak_memory +50.0% at batch 8 (limit +5%)" in out
    assert lines[-1] == report.summary_line
    assert report.summary_line == (
        "bsprof check: REGRESSION: time_per_iter +30.0% at batch 4 (limit +10%)"
    )


def test_flops_keep_gating_when_only_memory_is_unverified() -> None:
    baseline = predicted_sweep({8: GIB})
    grown = predicted_sweep({8: GIB})
    grown = replace(
        grown,
        results=tuple(
            replace(
                r, prediction=replace(r.prediction, flops_per_iter=2 * 8 * 10**9, verified=False)
            )
            for r in grown.results
            if r.prediction is not None
        ),
    )
    report = compare(baseline, grown, None)
    (flops,) = [c for c in report.comparisons if c.metric == "flops"]
    assert flops.gating and flops.verdict is Verdict.REGRESSION
    assert report.exit_code == EXIT_REGRESSION


def test_a_changed_training_setup_is_said_first() -> None:
    from bsprof.training_setup import TrainingSetup

    def with_setup(result: SweepResult, lr: float, parameters: int) -> SweepResult:
        setup = TrainingSetup(
            "torch.optim.AdamW",
            "default",
            "cross_entropy",
            "default",
            {"lr": lr},
            parameters=parameters,
            trainable_parameters=parameters,
        )
        return replace(result, config=replace(result.config, training=setup))

    report = compare(
        with_setup(predicted_sweep({8: GIB}), 0.001, 1000),
        with_setup(predicted_sweep({8: GIB}), 0.01, 2000),
        None,
    )
    assert report.warnings[0] == (
        "the training setup changed since the baseline (optimizer AdamW(lr=0.001) -> "
        "AdamW(lr=0.01); parameters 1,000 -> 2,000; trainable 1,000 -> 2,000): a change below "
        "may be the setup's, not the code's"
    )

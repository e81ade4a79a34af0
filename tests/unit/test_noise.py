"""The gradient noise scale: the estimator on exact norms, the closed form of least squares,
determinism, the model left as it was, and the JSON record."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import bsprof
from bsprof.cli import app
from bsprof.device import CPU
from bsprof.errors import ConfigError, InputFileError, ModelFileError, UsageError
from bsprof.noise import (
    GradientNorms,
    NoiseRequest,
    NoiseScaleEstimate,
    estimate_noise_scale,
    estimate_parts,
    read_noise_scale,
)
from bsprof.noise_measure import same_batch
from bsprof.noise_text import IDENTICAL_BATCHES_WARNING, MEAN_LOSS_NOTE, NOT_RESOLVED
from tests.models import noisy_least_squares

MODELS = Path(__file__).resolve().parents[1] / "models"
LEAST_SQUARES = str(MODELS / "noisy_least_squares.py")
# K for the closed-form test. Measured over seeds 0-49 at b = 8, k = 8, K = 1024 (400 bootstrap
# resamples): the worst relative error 7.0% (seed 6), the spread (std) 3.6%, the mean +0.4%, the
# 95% interval holding 21 for 48 of 50; seed 0 (the test's) is off by +1.5%. 0.25 s on a CPU.
CLOSED_FORM_GRADIENTS = 1024


def _norms(small: float, big: float, b: int = 4, k: int = 4, groups: int = 3) -> GradientNorms:
    return GradientNorms(b, b * k, (small,) * (k * groups), (big,) * groups)


def _estimate(norms: GradientNorms) -> NoiseScaleEstimate:
    k, gradients = norms.accum, len(norms.small_sq_norms)
    request = NoiseRequest("model.py", norms.small_batch, k, gradients, device=CPU, bootstrap=50)
    return estimate_noise_scale(norms, request, "cpu")


def test_exact_norms_give_the_exact_estimates() -> None:
    # |G|^2 = 2, tr(Sigma) = 40: E|g_b|^2 = 2 + 40/4 = 12 at b = 4, E|g_B|^2 = 2 + 40/16 = 4.5
    norms = _norms(12.0, 4.5)
    parts = estimate_parts(norms)
    assert parts.grad_sq_norm == pytest.approx(2.0)
    assert parts.trace_sigma == pytest.approx(40.0)
    estimate = _estimate(norms)
    assert estimate.b_noise == pytest.approx(20.0)
    assert estimate.ci_low == pytest.approx(20.0) and estimate.ci_high == pytest.approx(20.0)
    assert (estimate.gradients, estimate.big_gradients, estimate.accum) == (12, 3, 4)


def test_means_are_taken_before_the_ratio() -> None:
    # two groups of k = 2 at b = 1: small means 3 and big means 2 -> |G|^2 = (2*2 - 3)/1 = 1,
    # tr(Sigma) = (3 - 2) / (1 - 1/2) = 2; a mean of per-group ratios would differ
    norms = GradientNorms(1, 2, (1.0, 5.0, 3.0, 3.0), (1.0, 3.0))
    assert estimate_parts(norms).b_noise == pytest.approx(2.0)


def test_a_gradient_lost_in_the_noise_is_not_resolved() -> None:
    estimate = _estimate(_norms(12.0, 2.0))  # (16*2 - 4*12) / 12 < 0
    assert estimate.grad_sq_norm < 0
    assert (estimate.b_noise, estimate.ci_low, estimate.ci_high) == (None, None, None)
    assert not estimate.resolved and estimate.notes[0] == NOT_RESOLVED


def test_no_measured_noise_is_zero_not_negative() -> None:
    estimate = _estimate(_norms(4.0, 4.0 + 1e-9))
    assert estimate.b_noise == 0.0 and estimate.ci_low == 0.0


def test_the_closed_form_of_least_squares() -> None:
    """x ~ N(0, I_d), y = x.w* + eps, eps ~ N(0, s^2); per-example loss (x.w - y)^2 at fixed w,
    delta = w - w*, so the per-example gradient is g = 2 x (x.delta - eps).

    G = E[g] = 2 E[x x^T] delta = 2 delta, so |G|^2 = 4 |delta|^2.
    For Gaussian x (Isserlis), E[x x^T (x.delta)^2] = |delta|^2 I + 2 delta delta^T, and eps is
    independent of x, so E[g g^T] = 4 (|delta|^2 I + 2 delta delta^T + s^2 I) and
    Sigma = E[g g^T] - G G^T = 4 (|delta|^2 I + delta delta^T + s^2 I):
    tr(Sigma) = 4 ((d + 1) |delta|^2 + d s^2). The factor 4 (2 squared) cancels in the ratio:

        B_noise = tr(Sigma) / |G|^2 = (d + 1) + d s^2 / |delta|^2 = 21 for d = 10, s = 1,
        |delta| = 1.

    The mean-reduced MSE's batch gradient is the mean of these per-example gradients, as the
    estimator assumes. At CLOSED_FORM_GRADIENTS (see there for the spread over 50 seeds) the
    estimate is within 15% and the 95% interval holds the truth.
    """
    expected = noisy_least_squares.B_NOISE
    assert expected == 21
    estimate = bsprof.noise_scale(
        LEAST_SQUARES,
        batch_size=8,
        accum=8,
        gradients=CLOSED_FORM_GRADIENTS,
        device="cpu",
        bootstrap=400,
    )
    assert estimate.b_noise is not None and estimate.ci_low is not None
    assert estimate.ci_high is not None
    assert abs(estimate.b_noise / expected - 1) < 0.15
    assert estimate.ci_low <= expected <= estimate.ci_high
    assert estimate.warnings == ()


def test_the_seed_decides_the_answer() -> None:
    def measure(seed: int) -> NoiseScaleEstimate:
        return bsprof.noise_scale(
            LEAST_SQUARES,
            batch_size=4,
            accum=4,
            gradients=32,
            seed=seed,
            device="cpu",
            bootstrap=100,
        )

    first, again, other = measure(3), measure(3), measure(4)
    assert first == again
    assert (first.b_noise, first.ci_low, first.ci_high) == (
        again.b_noise,
        again.ci_low,
        again.ci_high,
    )
    assert other.small_sq_norms != first.small_sq_norms and other.b_noise != first.b_noise


def _batchnorm_holder(fresh: bool) -> types.SimpleNamespace:
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    fixed = (torch.randn(4, 6), torch.randint(0, 3, (4,)))

    def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not fresh:
            return fixed[0][:batch_size].clone(), fixed[1][:batch_size].clone()
        return torch.randn(batch_size, 6), torch.randint(0, 3, (batch_size,))

    return types.SimpleNamespace(model=model, make_batch=make_batch)


def test_weights_buffers_and_mode_are_left_as_built() -> None:
    holder = _batchnorm_holder(fresh=True)
    model: nn.Module = holder.model
    model.eval()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    estimate = bsprof.noise_scale(holder, batch_size=4, accum=2, gradients=8, device="cpu")
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert int(after["1.num_batches_tracked"]) == 0
    assert not any(module.training for module in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert IDENTICAL_BATCHES_WARNING not in estimate.warnings
    assert estimate.model == "<in-memory SimpleNamespace>"


def test_identical_batches_are_warned_about() -> None:
    estimate = bsprof.noise_scale(
        _batchnorm_holder(fresh=False), batch_size=4, accum=2, gradients=4, device="cpu"
    )
    assert estimate.warnings[0] == IDENTICAL_BATCHES_WARNING


def test_the_models_own_failure_is_one_clear_error() -> None:
    words = r"forward_raises\.py: the model's forward raised ValueError"
    with pytest.raises(ModelFileError, match=words):
        bsprof.noise_scale(str(MODELS / "forward_raises.py"), gradients=16, device="cpu")


def test_a_batch_of_arrays_is_compared_without_error() -> None:
    assert not same_batch((torch.ones(2), np.ones(2)), (torch.ones(2), np.ones(2)))
    assert same_batch({"x": torch.ones(2), "n": 3}, {"x": torch.ones(2), "n": 3})
    assert not same_batch((torch.ones(2),), (torch.ones(2), torch.ones(2)))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"batch_size": 0}, "batch_size must be an integer of at least 1"),
        ({"accum": 1}, "accum must be an integer of at least 2"),
        ({"gradients": 60}, "gradients must be a multiple of accum"),
        ({"gradients": 8}, "at least two groups"),
        ({"confidence": 1.0}, "confidence must be between 0 and 1"),
        ({"bootstrap": 0}, "bootstrap must be an integer of at least 1"),
    ],
)
def test_requests_are_validated(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        NoiseRequest("model.py", **fields)  # type: ignore[arg-type]


def test_the_record_round_trips_through_json(tmp_path: Path) -> None:
    estimate = _estimate(GradientNorms(2, 4, (3.0, 1.0, 2.5, 1.5), (1.2, 1.1)))
    data = estimate.to_dict()
    assert (data["schema_version"], data["kind"]) == (1, "noise")
    assert NoiseScaleEstimate.from_dict(json.loads(json.dumps(data))) == estimate
    path = tmp_path / "noise.json"
    path.write_text(json.dumps(data))
    assert read_noise_scale(path) == estimate
    assert bsprof.read_noise_scale(str(path)).b_noise == estimate.b_noise


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": 1, "results": []}', "not a bsprof noise JSON"),
        ('{"schema_version": 9, "kind": "noise"}', "schema_version 9 is not supported"),
        ('{"schema_version": 1, "kind": "noise"}', "malformed noise JSON: missing field"),
        ('{"kind": "noise", "schema_version": 1, "b_noise": NaN}', "NaN is not a number"),
    ],
)
def test_a_bad_noise_file_is_one_clear_error(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "noise.json"
    path.write_text(text)
    with pytest.raises(InputFileError, match=words) as caught:
        read_noise_scale(path)
    assert caught.value.exit_code == 2
    with pytest.raises(InputFileError, match="no such file"):
        read_noise_scale(tmp_path / "missing.json")


def test_a_wrongly_typed_field_is_malformed(tmp_path: Path) -> None:
    data = _estimate(_norms(12.0, 4.5)).to_dict()
    path = tmp_path / "noise.json"
    path.write_text(json.dumps({**data, "b_noise": "big"}))
    with pytest.raises(InputFileError, match="field 'b_noise' is str"):
        read_noise_scale(path)


def test_the_cli_exits_1_when_not_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    unresolved = _estimate(_norms(12.0, 2.0))
    monkeypatch.setattr(bsprof.api, "noise_scale", lambda *args, **kwargs: unresolved)
    result = CliRunner().invoke(app, ["noise", "model.py", "--json"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert json.loads(result.stdout)["b_noise"] is None
    assert "not resolved" in result.stderr and "--gradients" in result.stderr


def _holder(loss_scale: float = 1.0, reduction: str = "mean") -> types.SimpleNamespace:
    """noisy_least_squares as an in-memory namespace, with its loss scaled or summed."""

    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return loss_scale * nn.functional.mse_loss(outputs, targets, reduction=reduction)

    return types.SimpleNamespace(
        build_model=noisy_least_squares.build_model,
        make_batch=noisy_least_squares.make_batch,
        loss_fn=loss_fn,
    )


def test_a_nan_loss_stops_at_the_first_gradient() -> None:
    # before: K gradients later, "B_noise not resolved ... use more gradients" and |G|^2 ~ nan
    # (and --json died in json.dumps on the NaN)
    with pytest.raises(ModelFileError, match=r"gradient 1 of 16 is not finite \(.* nan\)"):
        bsprof.noise_scale(_holder(loss_scale=math.nan), accum=2, gradients=16, device="cpu")


def test_the_estimator_refuses_non_finite_norms() -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        GradientNorms(1, 2, (1.0, math.inf, 3.0, 3.0), (1.0, 3.0))
    with pytest.raises(ValueError, match="negative"):
        GradientNorms(1, 2, (1.0, -1.0, 3.0, 3.0), (1.0, 3.0))


def test_gradients_that_are_all_zero_are_refused() -> None:
    # before: "not resolved: the gradient is lost in the noise; use more gradients"
    with pytest.raises(ModelFileError, match="every gradient is exactly zero"):
        bsprof.noise_scale(_holder(loss_scale=0.0), accum=2, gradients=4, device="cpu")


def test_hf_targets_are_refused() -> None:
    # random weights and the same synthetic tokens on every call: B_noise would mean nothing
    with pytest.raises(UsageError, match=r"cannot measure an hf: target.*Write a model file"):
        NoiseRequest("hf:gpt2")


def test_the_callers_random_state_is_left_alone() -> None:
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    bsprof.noise_scale(_holder(), batch_size=2, accum=2, gradients=4, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)


def test_a_summed_loss_gives_the_same_b_noise() -> None:
    """A sum over the batch is b x the mean at every small gradient: the scale cancels in
    B_noise and multiplies |G|^2 and tr(Sigma) by b^2, as the note says."""
    b = 4
    mean = bsprof.noise_scale(_holder(), batch_size=b, accum=4, gradients=64, device="cpu")
    summed = bsprof.noise_scale(
        _holder(reduction="sum"), batch_size=b, accum=4, gradients=64, device="cpu"
    )
    assert mean.b_noise is not None and summed.b_noise == pytest.approx(mean.b_noise, rel=1e-5)
    assert summed.grad_sq_norm == pytest.approx(b**2 * mean.grad_sq_norm, rel=1e-5)
    assert summed.trace_sigma == pytest.approx(b**2 * mean.trace_sigma, rel=1e-5)
    assert "summed over the batch gives the same B_noise" in MEAN_LOSS_NOTE
    assert MEAN_LOSS_NOTE in mean.notes


def test_an_unwritable_markdown_path_is_refused_before_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def never(*args: object, **kwargs: object) -> NoiseScaleEstimate:
        raise AssertionError("measured before the --markdown path was checked")

    monkeypatch.setattr(bsprof.api, "noise_scale", never)
    afile = tmp_path / "afile"
    afile.write_text("")
    result = CliRunner().invoke(
        app, ["noise", "model.py", "--markdown", str(afile / "x.md")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2, result.output
    assert "--markdown" in result.stderr and "is not a directory" in result.stderr


def test_a_failed_markdown_write_is_one_line_after_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import bsprof.report.noise

    def fail(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    estimate = _estimate(_norms(12.0, 4.5))
    monkeypatch.setattr(bsprof.api, "noise_scale", lambda *args, **kwargs: estimate)
    monkeypatch.setattr(bsprof.report.noise, "write_noise_markdown", fail)
    args = ["noise", "model.py", "--json", "--markdown", str(tmp_path / "x.md")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["b_noise"] == pytest.approx(20.0)  # the report came first
    assert "cannot write: Permission denied" in result.stderr


def test_few_groups_are_warned_about_and_enough_are_not() -> None:
    """Below MIN_TRUSTED_GROUPS groups the percentile bootstrap's interval is too narrow."""
    from bsprof.noise import MIN_TRUSTED_GROUPS

    def norms(groups: int) -> GradientNorms:
        small = tuple(2.0 + (i % 3) * 0.1 for i in range(groups * 2))
        return GradientNorms(4, 8, small, tuple(1.5 + (i % 2) * 0.05 for i in range(groups)))

    def estimate(groups: int) -> NoiseScaleEstimate:
        request = NoiseRequest("model.py", 4, 2, groups * 2, device=CPU, bootstrap=50)
        return estimate_noise_scale(norms(groups), request, "cpu")

    few, enough = estimate(MIN_TRUSTED_GROUPS - 1), estimate(MIN_TRUSTED_GROUPS)
    assert few.resolved and enough.resolved
    assert any(w.startswith(f"only {MIN_TRUSTED_GROUPS - 1} groups") for w in few.warnings)
    assert enough.warnings == ()

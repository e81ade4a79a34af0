"""Predictions on fake tensors: the bundled examples against torch's MemTracker on a plain
training loop, the breakdown, FLOPs, and models fake tensors cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsprof.config import SweepConfig
from bsprof.prediction import PredictionUnsupported, predict_iteration
from bsprof.workload import load_workload
from tests.reference import memtracker_peak

ROOT = Path(__file__).resolve().parents[2]

BILINEAR = Path(__file__).resolve().parents[1] / "models" / "bilinear_cdist.py"


CASES = [
    ("examples/mnist_mlp.py", (1, 32, 256)),
    ("examples/small_cnn.py", (2, 16)),
    ("examples/tiny_transformer.py", (1, 8)),
    ("tests/models/memory_hog.py", (4, 32)),
    ("tests/models/hf_gpt2.py", (1, 4)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("model_file", "batch_sizes"), CASES)
def test_predicted_peak_is_within_2_percent_of_a_real_iteration(
    model_file: str, batch_sizes: tuple[int, ...]
) -> None:
    if "hf_gpt2" in model_file:
        pytest.importorskip("transformers")
    path = str(ROOT / model_file)
    workload = load_workload(path)
    for batch_size in batch_sizes:
        predicted = predict_iteration(workload, SweepConfig(path), batch_size, False)
        real = memtracker_peak(path, batch_size)
        assert abs(predicted.predicted_peak_bytes - real) <= 0.02 * real, (batch_size, real)


def test_the_same_prediction_twice_gives_identical_bytes() -> None:
    path = str(ROOT / "examples" / "mnist_mlp.py")
    workload = load_workload(path)
    first = predict_iteration(workload, SweepConfig(path), 64, False)
    second = predict_iteration(workload, SweepConfig(path), 64, False)
    assert first == second


def test_breakdown_of_a_known_model() -> None:
    path = str(ROOT / "examples" / "mnist_mlp.py")
    prediction = predict_iteration(load_workload(path), SweepConfig(path), 64, False)
    parameters = (784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10) * 4
    assert prediction.parameters == parameters
    assert prediction.optimizer_state >= 2 * parameters  # AdamW: two moments (+ step counts)
    assert prediction.inputs == 64 * 784 * 4 + 64 * 8  # float images, int64 labels
    parts = (
        prediction.parameters
        + prediction.gradients
        + prediction.optimizer_state
        + prediction.inputs
        + prediction.activations
    )
    assert parts == prediction.predicted_peak_bytes
    assert prediction.peak_phase in ("forward", "backward", "optimizer step")
    # FLOPs: 3 matmuls forward x (1 forward + 2 backward) x 2 FLOPs per multiply-add;
    # the first layer's input needs no gradient, so its backward has one matmul, not two
    forward = 2 * 64 * (784 * 512 + 512 * 512 + 512 * 10)
    assert prediction.flops_per_iter == 3 * forward - 2 * 64 * 784 * 512


def test_data_dependent_models_are_refused_with_the_reason_and_line() -> None:
    path = str(ROOT / "tests" / "models" / "data_dependent.py")
    with pytest.raises(PredictionUnsupported, match=r"depends on tensor values.*data_dependent"):
        predict_iteration(load_workload(path), SweepConfig(path), 4, False)


def test_cuda_targets_use_foreach_optimizers() -> None:
    path = str(ROOT / "examples" / "mnist_mlp.py")
    workload = load_workload(path)
    loop = predict_iteration(workload, SweepConfig(path), 8, False)
    foreach = predict_iteration(workload, SweepConfig(path), 8, True)
    assert foreach.predicted_peak_bytes != loop.predicted_peak_bytes


def test_ops_without_a_formula_are_named_whatever_their_name_says() -> None:
    path = str(BILINEAR)
    prediction = predict_iteration(load_workload(path), SweepConfig(path), 4, False)
    assert prediction.flops_incomplete == (
        "aten._cdist_backward",
        "aten._cdist_forward",
        "aten._trilinear",
    )


def test_lazy_modules_are_a_stated_fake_tensor_limit(tmp_path: Path) -> None:
    model = tmp_path / "lazy.py"
    model.write_text(
        "import torch\n"
        "def build_model():\n"
        "    lazy = torch.nn.LazyLinear(8)\n"
        "    m = torch.nn.Sequential(lazy, torch.nn.ReLU(), torch.nn.Linear(8, 2))\n"
        "    m(torch.zeros(1, 4))\n"
        "    return m\n"
        "def make_batch(n):\n    return torch.randn(n, 4), torch.randint(0, 2, (n,))\n"
    )
    with pytest.raises(PredictionUnsupported, match=r"lazy modules .* cannot materialise"):
        predict_iteration(load_workload(str(model)), SweepConfig(str(model)), 4, False)
    from bsprof.describe import describe_training

    setup = describe_training(load_workload(str(model)), SweepConfig(str(model)))
    assert setup.note is None and setup.parameters == 4 * 8 + 8 + 8 * 2 + 2  # built on meta


def test_a_model_whose_lazy_modules_never_ran_is_described_without_parameter_counts() -> None:
    """Without a forward in build_model(), nn.LazyLinear has no shapes to count: the probe's
    description says so (it runs no forward), and a prediction is refused with the reason."""
    from bsprof.describe import describe_training

    path = str(ROOT / "tests" / "models" / "lazy_linear.py")
    setup = describe_training(load_workload(path), SweepConfig(path))
    assert setup.parameters is None and setup.trainable_parameters is None
    assert setup.note == "parameters unknown until the first forward (lazy modules)"
    assert setup.optimizer_class == "torch.optim.AdamW"
    with pytest.raises(PredictionUnsupported, match=r"lazy modules .* cannot materialise"):
        predict_iteration(load_workload(path), SweepConfig(path), 4, False)

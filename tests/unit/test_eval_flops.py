"""FLOPs of ``--mode eval``: the forward runs under ``torch.inference_mode()``, where composite
ops (aten.linear, aten.scaled_dot_product_attention, aten.conv2d, ...) reach the FLOP tally
whole, and some modules take fused inference kernels (nn.MultiheadAttention,
nn.TransformerEncoderLayer) or other argument layouts (oneDNN's LSTM layer). Eval must count
the same work as the training iteration's forward."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsprof.config import Mode, SweepConfig
from bsprof.prediction import predict_iteration
from bsprof.prediction.iteration import trace_fake_iteration, trace_real_iteration
from bsprof.workload import load_workload

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "models" / "zoo"

BILINEAR = Path(__file__).resolve().parents[1] / "models" / "bilinear_cdist.py"


def _eval(path: str) -> SweepConfig:
    return SweepConfig(path, mode=Mode.EVAL)


def test_mlp_eval_counts_two_flops_per_multiply_add_of_every_linear() -> None:
    path = str(ROOT / "examples" / "mnist_mlp.py")
    batch = 8
    prediction = predict_iteration(load_workload(path), _eval(path), batch, False)
    assert prediction.flops_per_iter == 2 * batch * (784 * 512 + 512 * 512 + 512 * 10)
    assert prediction.flops_incomplete == ()


def test_eval_and_the_training_forward_of_an_mlp_count_the_same_on_real_tensors() -> None:
    """The self-check's real-tensor pass counts as the fake one does."""
    path = str(ROOT / "examples" / "mnist_mlp.py")
    workload = load_workload(path)
    evaluated = trace_real_iteration(workload, _eval(path), 4, False)
    trained = trace_real_iteration(workload, SweepConfig(path), 4, False)
    assert evaluated.flops == trained.flops_by_phase["forward"] == 2 * 4 * 668672
    assert trained.flops_by_phase["backward"] > 0


@pytest.mark.parametrize(
    "file",
    [
        "hf_llama_lm.py",  # SDPA with grouped-query attention, RoPE, SwiGLU
        "hf_bert_encoder.py",  # SDPA with a padding mask
        "multihead_attention.py",  # nn.MultiheadAttention's fused inference kernel
        "lstm_classifier.py",  # oneDNN's LSTM layer: a (1, batch, hidden) state in eval
        "resnet_inplace.py",  # conv2d
        "conv_autoencoder.py",  # conv_transpose2d
        "audio_conv1d_groupnorm.py",  # conv1d
    ],
)
def test_eval_counts_the_training_forwards_flops(file: str) -> None:
    if file.startswith("hf_"):
        pytest.importorskip("transformers")
    path = str(ZOO / file)
    workload = load_workload(path)
    trained = trace_fake_iteration(workload, SweepConfig(path), 2, False)
    evaluated = trace_fake_iteration(workload, _eval(path), 2, False)
    assert set(trained.flops_by_phase) == {"forward", "backward"}  # the optimizer: elementwise
    assert sum(trained.flops_by_phase.values()) == trained.flops
    assert trained.flops_by_phase["forward"] > 0
    assert evaluated.flops == trained.flops_by_phase["forward"]
    assert evaluated.flops_by_phase == {"forward": evaluated.flops}
    assert evaluated.uncounted_ops == trained.uncounted_ops == ()


def test_fused_transformer_encoder_layers_count_attention_and_feed_forward(
    tmp_path: Path,
) -> None:
    """nn.TransformerEncoderLayer runs one fused kernel in eval: its projections, attention
    and feed-forward, as the training forward counts them."""
    model = tmp_path / "encoder.py"
    model.write_text(
        "import torch\n"
        "from torch import nn\n"
        "def build_model():\n"
        "    layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=96, batch_first=True)\n"
        "    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)\n"
        "    return nn.Sequential(encoder, nn.Linear(64, 3))\n"
        "def make_batch(n):\n"
        "    return torch.randn(n, 10, 64), torch.randn(n, 10, 3)\n"
    )
    path = str(model)
    workload = load_workload(path)
    batch, seq, width, feedforward = 2, 10, 64, 96
    rows = batch * seq
    layer = (
        2 * rows * width * 3 * width  # q, k, v projections
        + 2 * 2 * batch * seq * seq * width  # q k^T and the weights times v, all heads
        + 2 * rows * width * width  # output projection
        + 2 * 2 * rows * width * feedforward  # feed-forward up and down
    )
    expected = 2 * layer + 2 * rows * width * 3
    evaluated = trace_fake_iteration(workload, _eval(path), batch, False)
    trained = trace_fake_iteration(workload, SweepConfig(path), batch, False)
    assert evaluated.flops == trained.flops_by_phase["forward"] == expected
    assert "aten._transformer_encoder_layer_fwd" in evaluated.allocated_by_op  # the fused path


def test_eval_still_names_ops_without_a_formula() -> None:
    """Composite ops decompose in eval; what they decompose to without a formula is named."""
    path = str(BILINEAR)
    prediction = predict_iteration(load_workload(path), _eval(path), 4, False)
    assert prediction.flops_incomplete == ("aten._cdist_forward", "aten._trilinear")

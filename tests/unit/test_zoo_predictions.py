"""Predictions on a zoo of model families nobody designed bsprof around, against torch's
MemTracker on a plain training loop (tests/reference.py), at two batch sizes each."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bsprof.config import Precision, SweepConfig
from bsprof.prediction import predict_iteration
from bsprof.workload import load_workload
from tests.reference import memtracker_peak

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "models" / "zoo"
TOLERANCE = 0.02

# family, model file, batch sizes, autocast dtype (None: the model's own dtype)
CASES = [
    ("LSTM, 2 layers (oneDNN)", "lstm_classifier.py", (2, 48), None),
    ("GRU, bidirectional", "gru_bidirectional.py", (2, 16), None),
    ("RNN tanh, sequence-first", "rnn_sequence_first.py", (3, 32), None),
    ("residual CNN, in-place, BatchNorm", "resnet_inplace.py", (2, 16), None),
    ("transposed convolutions", "conv_autoencoder.py", (2, 16), None),
    ("activation checkpointing", "checkpointed_mlp.py", (2, 16), None),
    ("custom autograd Function", "custom_function.py", (4, 64), None),
    ("nn.MultiheadAttention", "multihead_attention.py", (2, 8), None),
    ("HF encoder (BERT)", "hf_bert_encoder.py", (2, 8), None),
    ("HF encoder-decoder (T5)", "hf_t5_seq2seq.py", (2, 8), None),
    ("HF decoder LM (Llama)", "hf_llama_lm.py", (2, 8), None),
    ("HF decoder LM, bf16 autocast", "hf_llama_lm.py", (2, 8), torch.bfloat16),
    ("LoRA (peft) GPT-2", "lora_gpt2.py", (2, 8), None),
    ("pure bf16 Llama", "bf16_llama.py", (2, 8), None),
    ("routing, gather/scatter (MoE)", "moe_routing.py", (2, 16), None),
    ("frozen backbone, SGD momentum", "frozen_backbone.py", (2, 16), None),
    ("own training_step", "custom_training_step.py", (4, 32), None),
    ("buffer and optimizer state replaced", "replaced_state.py", (2, 16), None),
    (
        "Conv1d + GroupNorm audio, bf16 autocast",
        "audio_conv1d_groupnorm.py",
        (2, 32),
        torch.bfloat16,
    ),
]
_PRECISION = {None: Precision.FP32, torch.bfloat16: Precision.BF16}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "file", "batch_sizes", "autocast"), CASES, ids=[case[0] for case in CASES]
)
def test_predicted_peak_is_within_2_percent_of_memtracker(
    family: str, file: str, batch_sizes: tuple[int, ...], autocast: torch.dtype | None
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    path = str(ZOO / file)
    workload = load_workload(path)
    config = SweepConfig(path, precision=_PRECISION[autocast])
    for batch_size in batch_sizes:
        predicted = predict_iteration(workload, config, batch_size, False)
        real = memtracker_peak(path, batch_size, autocast)
        error = (predicted.predicted_peak_bytes - real) / real
        assert abs(error) <= TOLERANCE, (family, batch_size, predicted.predicted_peak_bytes, real)
        assert predicted.flops_per_iter > 0, family
        assert predicted.flops_incomplete == (), family


def test_lstm_flops_follow_the_gate_matrix_formula() -> None:
    """2 layers x (forward + 2 x forward backward) x 2 FLOPs x seq x batch x gate weights,
    plus the head's matmuls; the embedding and the elementwise gates count nothing."""
    path = str(ZOO / "lstm_classifier.py")
    batch, seq, embed, hidden, classes = 4, 50, 64, 128, 5
    prediction = predict_iteration(load_workload(path), SweepConfig(path), batch, False)
    gates = 4 * hidden
    layer_one = 2 * seq * batch * gates * (embed + hidden)
    layer_two = 2 * seq * batch * gates * (hidden + hidden)
    head_forward = 2 * batch * hidden * classes
    expected = 3 * (layer_one + layer_two) + 3 * head_forward
    assert prediction.flops_per_iter == expected

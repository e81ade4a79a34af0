"""Models built the ways people fine-tune still predict: cast with .to()/.half()/.bfloat16(),
moved with .to(device), partly frozen, or wrapped by peft's get_peft_model; and every
prediction agrees with a real iteration of the same step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from bsprof.config import SweepConfig
from bsprof.prediction import predict_iteration
from bsprof.prediction.iteration import traced_iteration
from bsprof.step import make_step
from bsprof.workload import Workload
from tests.conftest import tiny_mlp, tiny_workload

IN, HIDDEN, OUT = 64, 128, 10


def _workload(build: Callable[[], nn.Module], dtype: torch.dtype = torch.float32) -> Workload:
    return tiny_workload(
        features=IN, classes=OUT, dtype=dtype, source="inline.py", build_model=build
    )


def _mlp() -> nn.Module:
    return tiny_mlp(IN, HIDDEN, OUT)


PARAMETERS = IN * HIDDEN + HIDDEN + HIDDEN * OUT + OUT

CASTS: dict[str, tuple[Callable[[nn.Module], nn.Module], torch.dtype]] = {
    ".to(torch.bfloat16)": (lambda m: m.to(torch.bfloat16), torch.bfloat16),
    ".half()": (lambda m: m.half(), torch.float16),
    ".bfloat16()": (lambda m: m.bfloat16(), torch.bfloat16),
    '.to("cpu")': (lambda m: m.to("cpu"), torch.float32),
    ".to(device, dtype)": (lambda m: m.to(torch.device("cpu"), torch.bfloat16), torch.bfloat16),
    ".float() after .half()": (lambda m: m.half().float(), torch.float32),
}


def _real_peak(workload: Workload, batch_size: int) -> int:
    torch.manual_seed(0)
    step = make_step(workload, SweepConfig("inline.py"), batch_size, torch.device("cpu"))
    step()
    return traced_iteration(step).peak_bytes


@pytest.mark.parametrize("cast", list(CASTS), ids=list(CASTS))
def test_casts_and_moves_in_build_model_predict(cast: str) -> None:
    convert, dtype = CASTS[cast]
    workload = _workload(lambda: convert(_mlp()), dtype)
    prediction = predict_iteration(workload, SweepConfig("inline.py"), 8, False)
    size = torch.tensor([], dtype=dtype).element_size()
    assert prediction.parameters == PARAMETERS * size
    assert prediction.predicted_peak_bytes == _real_peak(workload, 8)


def test_frozen_parameters_have_no_gradient_and_no_optimizer_state() -> None:
    def build() -> nn.Module:
        model = _mlp()
        first: nn.Module = model.get_submodule("0")
        first.requires_grad_(False)
        return model

    workload = _workload(build)
    prediction = predict_iteration(workload, SweepConfig("inline.py"), 8, False)
    trainable = (HIDDEN * OUT + OUT) * 4
    assert prediction.parameters == PARAMETERS * 4
    # AdamW: two moments per trainable parameter, and one float32 step count per tensor
    assert prediction.optimizer_state == 2 * trainable + 2 * 4
    assert prediction.gradients <= trainable
    assert prediction.predicted_peak_bytes == _real_peak(workload, 8)


def test_peft_lora_predicts_with_a_frozen_base() -> None:
    peft = pytest.importorskip("peft")

    def build() -> Any:
        config = peft.LoraConfig(r=4, target_modules=["0", "2"])
        return peft.get_peft_model(_mlp(), config)

    workload = _workload(build)
    prediction = predict_iteration(workload, SweepConfig("inline.py"), 8, False)
    lora = 4 * (IN + HIDDEN) + 4 * (HIDDEN + OUT)  # A and B of each adapted Linear
    assert prediction.parameters == (PARAMETERS + lora) * 4
    assert prediction.optimizer_state == 2 * lora * 4 + 4 * 4  # 4 adapter tensors
    assert prediction.predicted_peak_bytes == _real_peak(workload, 8)

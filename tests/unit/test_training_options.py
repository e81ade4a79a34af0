"""--lora, --grad-checkpointing, --precision bf16-true and --optimizer: bsprof's prediction of
a small Llama against torch's MemTracker on a real CPU iteration of a plain loop that applies
the same changes with plain peft, Hugging Face and torch calls (not bsprof's), and the
prediction's breakdown against the bytes the options must give."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from bsprof.config import Precision, SweepConfig
from bsprof.describe import describe_training
from bsprof.errors import ModelFileError
from bsprof.model_setup import OptimizerName
from bsprof.prediction import predict_iteration
from bsprof.records import PredictionRecord
from bsprof.step import make_step
from bsprof.workload import load_workload
from tests.reference import load_model_file, memtracker_peak

ZOO = Path(__file__).resolve().parents[1] / "models" / "zoo"
LLAMA = str(ZOO / "hf_llama_lm.py")  # 2 layers, hidden 128, vocab 3000, sequence 64
MLP = str(ZOO / "residual_mlp.py")  # no Hugging Face: LoRA on all linears, blocks checkpointed
TOLERANCE = 0.02
CPU = torch.device("cpu")


def _predict(path: str, batch_size: int, **options: Any) -> PredictionRecord:
    return predict_iteration(load_workload(path), SweepConfig(path, **options), batch_size, False)


# ---- the reference's own way of applying the options -----------------------------------


def _lora(model: nn.Module) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    # peft's own default targets for a model type it knows (Llama: q_proj, v_proj)
    known = getattr(getattr(model, "config", None), "model_type", None) is not None
    targets = None if known else "all-linear"
    return get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets))


def _hf_checkpointing(model: nn.Module) -> nn.Module:
    holder: Any = model
    base: Any = holder.get_base_model() if hasattr(model, "get_base_model") else model
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def _checkpoint_each_block(model: nn.Module) -> nn.Module:
    blocks: Any = model.get_submodule("blocks")
    for block in blocks:
        plain = block.forward
        block.forward = lambda x, plain=plain: checkpoint(plain, x, use_reentrant=False)
    return model


def _bf16(model: nn.Module) -> nn.Module:
    return model.to(torch.bfloat16)


def _then(*steps: Callable[[nn.Module], nn.Module]) -> Callable[[nn.Module], nn.Module]:
    def prepare(model: nn.Module) -> nn.Module:
        for step in steps:
            model = step(model)
        return model

    return prepare


def _sgd(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=1e-3, momentum=0.9)


# case, model file, bsprof's options, the reference's prepare, the reference's optimizer
CASES: list[tuple[str, str, dict[str, Any], Any, Any]] = [
    ("Llama LoRA", LLAMA, {"lora_rank": 8}, _lora, None),
    ("Llama grad checkpointing", LLAMA, {"grad_checkpointing": True}, _hf_checkpointing, None),
    ("Llama bf16-true", LLAMA, {"precision": Precision.BF16_TRUE}, _bf16, None),
    (
        "Llama bf16-true, LoRA, grad checkpointing",
        LLAMA,
        {"precision": Precision.BF16_TRUE, "lora_rank": 8, "grad_checkpointing": True},
        _then(_bf16, _lora, _hf_checkpointing),
        None,
    ),
    ("Llama SGD", LLAMA, {"optimizer_name": OptimizerName.SGD}, None, _sgd),
    (
        "Llama Adafactor",
        LLAMA,
        {"optimizer_name": OptimizerName.ADAFACTOR},
        None,
        torch.optim.Adafactor,
    ),
    ("MLP LoRA (all-linear)", MLP, {"lora_rank": 8}, _lora, None),
    (
        "MLP per-block checkpointing",
        MLP,
        {"grad_checkpointing": True},
        _checkpoint_each_block,
        None,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "path", "options", "prepare", "make_optimizer"), CASES, ids=[c[0] for c in CASES]
)
def test_predicted_peak_is_within_2_percent_of_memtracker(
    case: str, path: str, options: dict[str, Any], prepare: Any, make_optimizer: Any
) -> None:
    pytest.importorskip("peft")
    for batch_size in (2, 8) if path == LLAMA else (2, 64):
        predicted = _predict(path, batch_size, **options).predicted_peak_bytes
        real = memtracker_peak(path, batch_size, prepare=prepare, make_optimizer=make_optimizer)
        error = (predicted - real) / real
        assert abs(error) <= TOLERANCE, (case, batch_size, predicted, real)


# ---- the breakdown, exactly ---------------------------------------------------------------


def _bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _real_model(path: str, prepare: Callable[[nn.Module], nn.Module]) -> nn.Module:
    return prepare(load_model_file(path).build_model())


def test_lora_gradients_and_optimizer_state_are_the_adapters_only() -> None:
    pytest.importorskip("peft")
    # batch 1 of 4 tokens: the optimizer step, where every gradient is alive, is the peak
    predicted = _predict(MLP, 1, lora_rank=8)
    model = _real_model(MLP, _lora)
    adapters = [p for p in model.parameters() if p.requires_grad]
    assert adapters and all(
        "lora_" in name for name, p in model.named_parameters() if p.requires_grad
    )
    assert predicted.peak_phase == "optimizer step"
    assert predicted.gradients == _bytes(adapters)
    # AdamW: exp_avg and exp_avg_sq per adapter, and a 4-byte step count per adapter tensor
    assert predicted.optimizer_state == 2 * _bytes(adapters) + 4 * len(adapters)
    assert predicted.parameters == _bytes(model.parameters())


def test_bf16_true_halves_parameters_and_optimizer_state() -> None:
    fp32 = _predict(LLAMA, 2)
    bf16 = _predict(LLAMA, 2, precision=Precision.BF16_TRUE)
    assert bf16.parameters * 2 == fp32.parameters
    # AdamW's moments follow the parameters' dtype; the step counts stay 4-byte fp32 scalars
    steps = 4 * len(list(_real_model(LLAMA, lambda m: m).parameters()))
    assert (bf16.optimizer_state - steps) * 2 == fp32.optimizer_state - steps


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [(Precision.BF16_TRUE, torch.bfloat16), (Precision.FP16_TRUE, torch.float16)],
)
def test_true_precision_casts_the_model_and_float_inputs_not_class_ids(
    precision: Precision, dtype: torch.dtype
) -> None:
    step = make_step(load_workload(MLP), SweepConfig(MLP, precision=precision), 2, CPU)
    assert {p.dtype for p in step.model.parameters()} == {dtype}
    assert step.inputs.dtype is dtype
    assert step.targets.dtype is torch.int64
    assert step.scaler is None  # no loss scaling without autocast, fp16 included
    step()  # a real iteration in that dtype runs on the CPU
    assert step.optimizer is not None
    moments = [s["exp_avg"] for s in step.optimizer.state.values()]
    assert moments and {m.dtype for m in moments} == {dtype}


def test_sgd_momentum_state_is_one_copy_of_the_trainable_parameters() -> None:
    predicted = _predict(MLP, 2, optimizer_name=OptimizerName.SGD)
    model = _real_model(MLP, lambda m: m)
    assert predicted.optimizer_state == _bytes(model.parameters())


def test_adafactor_state_is_what_torch_allocates() -> None:
    predicted = _predict(MLP, 2, optimizer_name=OptimizerName.ADAFACTOR)
    file = load_model_file(MLP)
    model = file.build_model()
    optimizer = torch.optim.Adafactor(model.parameters())
    inputs, targets = file.make_batch(2)
    nn.functional.cross_entropy(model(inputs), targets).backward()  # type: ignore[no-untyped-call]
    optimizer.step()  # type: ignore[no-untyped-call]
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
    # factored: a row and a column vector per matrix, far below the 8 MB of parameters
    assert predicted.optimizer_state == _bytes(state) < _bytes(model.parameters()) // 50


def test_training_setup_records_the_options() -> None:
    pytest.importorskip("peft")
    config = SweepConfig(
        LLAMA, lora_rank=8, grad_checkpointing=True, optimizer_name=OptimizerName.SGD
    )
    setup = describe_training(load_workload(LLAMA), config)
    model = _real_model(LLAMA, _lora)
    assert setup.optimizer_class == "torch.optim.SGD"
    assert setup.optimizer_source == "--optimizer"
    assert setup.hyperparameters["momentum"] == 0.9
    assert setup.trainable_parameters == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )
    assert setup.parameters == sum(p.numel() for p in model.parameters())
    assert setup.options == (
        "LoRA r=8, alpha=16 on q_proj, v_proj (peft's choice for llama)",
        "gradient checkpointing: Hugging Face's, per layer",
    )


def test_a_plain_model_gets_lora_on_every_linear_and_a_checkpoint_per_block() -> None:
    pytest.importorskip("peft")
    config = SweepConfig(MLP, lora_rank=4, grad_checkpointing=True)
    setup = describe_training(load_workload(MLP), config)
    assert setup.options == (
        "LoRA r=4, alpha=8 on down, head, up (all-linear: peft has no default for this model)",
        "gradient checkpointing: 4 blocks (Block)",
    )


def test_optimizer_option_is_refused_when_the_file_builds_its_own() -> None:
    path = str(ZOO / "frozen_backbone.py")
    config = SweepConfig(path, optimizer_name=OptimizerName.SGD)
    with pytest.raises(ModelFileError, match="defines build_optimizer"):
        make_step(load_workload(path), config, 2, CPU)
    with pytest.raises(ModelFileError, match="defines build_optimizer"):
        describe_training(load_workload(path), config)


def test_lora_without_peft_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "peft" else real_find_spec(name, *args),
    )
    with pytest.raises(ModelFileError, match="needs peft, which is not installed"):
        make_step(load_workload(MLP), SweepConfig(MLP, lora_rank=8), 2, CPU)


def test_lora_on_a_bf16_true_model_keeps_peft_s_fp32_adapters() -> None:
    pytest.importorskip("peft")
    config = SweepConfig(MLP, precision=Precision.BF16_TRUE, lora_rank=8)
    model = make_step(load_workload(MLP), config, 2, CPU).model
    kinds = {(p.requires_grad, p.dtype) for p in model.parameters()}
    assert kinds == {(True, torch.float32), (False, torch.bfloat16)}
    predicted = _predict(MLP, 1, precision=Precision.BF16_TRUE, lora_rank=8)
    adapters = [p for p in model.parameters() if p.requires_grad]
    assert predicted.gradients == _bytes(adapters)


def test_lora_on_a_model_that_already_has_adapters_is_refused() -> None:
    pytest.importorskip("peft")
    path = str(ZOO / "lora_gpt2.py")
    with pytest.raises(ModelFileError, match="already returns a peft model"):
        make_step(load_workload(path), SweepConfig(path, lora_rank=8), 2, CPU)


def test_a_baseline_without_the_options_differs_in_setup() -> None:
    from bsprof.training_setup import TrainingSetup, setup_differences

    plain = TrainingSetup("torch.optim.AdamW", "default", "outputs.loss", "default")
    lora = TrainingSetup(
        "torch.optim.AdamW", "default", "outputs.loss", "default", options=("LoRA r=8",)
    )
    assert setup_differences(plain, lora) == ["options none -> LoRA r=8"]
    assert TrainingSetup.from_dict(lora.to_dict()) == lora


def test_lora_on_a_classifier_trains_its_fresh_head_as_peft_configures_it() -> None:
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from bsprof.training_options import apply_lora

    def classifier() -> torch.nn.Module:
        config = transformers.LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=100, num_labels=3, pad_token_id=0,
        )  # fmt: skip
        torch.manual_seed(0)
        model: torch.nn.Module = transformers.LlamaForSequenceClassification(config)
        return model

    ours = apply_lora(classifier(), 4, "m.py")
    theirs = peft.get_peft_model(
        classifier(), peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8)
    )
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in theirs.named_parameters() if p.requires_grad}
    assert any("score" in name for name in trainable)  # the head, not only the adapters

"""The example and test model files do what they claim: the good ones train, the broken ones break.

Each file is imported by path and trained for one step with plain torch (not bsprof), so a fault
in bsprof cannot hide a fault in the files its other tests rely on.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MODELS = ROOT / "tests" / "models"
_counter = itertools.count()


def load(path: Path) -> ModuleType:
    """Import a model file by path under a fresh, unique module name."""
    name = f"_bsprof_test_model_{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def call_model(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    assert isinstance(inputs, dict), type(inputs)
    return model(**inputs)


def compute_loss(workload: Any, outputs: Any, targets: Any) -> torch.Tensor:
    if getattr(workload, "loss_fn", None) is not None:
        loss: torch.Tensor = workload.loss_fn(outputs, targets)
        return loss
    if hasattr(outputs, "loss"):
        assert isinstance(outputs.loss, torch.Tensor)
        return outputs.loss
    assert isinstance(outputs, torch.Tensor) and isinstance(targets, torch.Tensor)
    if targets.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(outputs, targets)
    return F.mse_loss(outputs, targets)


def train_one_step(workload: Any, batch_size: int = 4) -> float:
    """One iteration as bsprof defines it; checks the loss is finite and the weights moved."""
    torch.manual_seed(0)
    model = workload.build_model()
    assert isinstance(model, nn.Module)
    model.train()
    batch = workload.make_batch(batch_size)
    assert isinstance(batch, tuple) and len(batch) == 2
    inputs, targets = batch
    if getattr(workload, "build_optimizer", None) is not None:
        optimizer = workload.build_optimizer(model.parameters())
        assert isinstance(optimizer, torch.optim.Optimizer)
    else:
        optimizer = torch.optim.AdamW(model.parameters())
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    loss = compute_loss(workload, call_model(model, inputs), targets)
    assert loss.dim() == 0 and torch.isfinite(loss), loss
    torch.autograd.backward(loss)
    trained = [name for name, p in model.named_parameters() if p.grad is not None]
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    assert trained, "no parameter received a gradient"
    after = dict(model.named_parameters())
    unchanged = [name for name in trained if torch.equal(before[name], after[name].detach())]
    assert not unchanged, f"parameters not updated: {unchanged}"
    return loss.item()


@pytest.mark.parametrize(
    "path",
    [
        EXAMPLES / "mnist_mlp.py",
        EXAMPLES / "small_cnn.py",
        EXAMPLES / "tiny_transformer.py",
        MODELS / "batchnorm.py",
        MODELS / "dict_inputs.py",
        MODELS / "memory_hog.py",
        MODELS / "sleepy.py",
        MODELS / "pkg_models" / "mlp.py",
    ],
    ids=lambda path: path.name,
)
def test_a_good_model_file_trains_for_one_step(path: Path) -> None:
    train_one_step(load(path))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.name)
def test_examples_follow_the_docstring_convention(path: Path) -> None:
    doc = load(path).__doc__
    assert doc is not None
    lines = doc.strip().splitlines()
    assert len(lines) >= 2 and lines[0]
    assert lines[1] == f"Try: bsprof sweep examples/{path.name}"


# Draws fresh samples on every call, as `bsprof noise` needs: reproducible under torch's seed.
FRESH_SAMPLES = "teacher_student.py"


def test_examples_make_deterministic_batches() -> None:
    for path in sorted(EXAMPLES.glob("*.py")):
        if path.name == FRESH_SAMPLES:
            continue
        module = load(path)
        first, second = module.make_batch(3), module.make_batch(3)
        for a, b in zip(first, second, strict=True):
            assert torch.equal(a, b), path.name


def test_the_teacher_student_example_samples_fresh_and_reproducibly() -> None:
    module = load(EXAMPLES / FRESH_SAMPLES)
    torch.manual_seed(0)
    first, second = module.make_batch(64), module.make_batch(64)
    assert not torch.equal(first[0], second[0]) and not torch.equal(first[1], second[1])
    torch.manual_seed(0)
    again = module.make_batch(64)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_small_cnn_takes_cifar_shaped_images_and_uses_batchnorm() -> None:
    module = load(EXAMPLES / "small_cnn.py")
    images, labels = module.make_batch(2)
    assert images.shape == (2, 3, 32, 32) and labels.shape == (2,)
    assert labels.dtype == torch.int64 and int(labels.max()) < 10
    model = module.build_model()
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(images).shape == (2, 10)
    train_one_step(module, batch_size=1)  # BatchNorm2d still has 32x32 values per channel


def test_tiny_transformer_is_causal_and_predicts_the_next_token() -> None:
    module = load(EXAMPLES / "tiny_transformer.py")
    tokens, targets = module.make_batch(2)
    assert tokens.shape == targets.shape == (2, 64) and targets.dtype == torch.int64
    assert torch.equal(tokens[:, 1:], targets[:, :-1])
    model = module.build_model().eval()
    with torch.no_grad():
        logits = model(tokens)
        changed = tokens.clone()
        changed[:, 40:] = (changed[:, 40:] + 1) % 1000
        logits_changed = model(changed)
    assert logits.shape == (2, 64, 1000)
    # Causal: a change at position 40 does not reach positions before it, and does reach it.
    assert torch.allclose(logits[:, :40], logits_changed[:, :40], atol=1e-5)
    assert not torch.allclose(logits[:, 40:], logits_changed[:, 40:], atol=1e-5)
    optimizer = module.build_optimizer(model.parameters())
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["lr"] == 3e-4 and optimizer.defaults["weight_decay"] == 0.1


def test_dict_inputs_have_no_targets_and_the_model_returns_its_loss() -> None:
    module = load(MODELS / "dict_inputs.py")
    inputs, targets = module.make_batch(4)
    assert targets is None
    assert set(inputs) == {"input_ids", "attention_mask", "labels"}
    outputs = module.build_model()(**inputs)
    assert isinstance(outputs.loss, torch.Tensor) and outputs.loss.dim() == 0


def test_hugging_face_gpt2_trains_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytest.importorskip("transformers")
    module = load(MODELS / "hf_gpt2.py")
    inputs, targets = module.make_batch(4)
    assert targets is None and inputs["input_ids"].shape == (4, 32)
    train_one_step(module)


def test_the_package_module_and_its_attribute_target() -> None:
    module = importlib.import_module("tests.models.pkg_models.mlp")
    train_one_step(module)
    train_one_step(module.workload)


def test_batchnorm_fails_at_batch_1_only() -> None:
    module = load(MODELS / "batchnorm.py")
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        train_one_step(module, batch_size=1)
    for batch_size in (2, 3, 8):
        train_one_step(module, batch_size=batch_size)


def test_sleepy_sleeps_as_told(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(MODELS / "sleepy.py")
    model = module.build_model()
    inputs, _ = module.make_batch(2)
    monkeypatch.setenv("BSPROF_TEST_SLEEP", "0.2")
    started = time.perf_counter()
    model(inputs)
    assert time.perf_counter() - started >= 0.2


def saved_activation_bytes(module: ModuleType, batch_size: int) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass of one forward."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    model = module.build_model()
    inputs, _ = module.make_batch(batch_size)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(inputs)
    return sum(storages.values())


def test_memory_hog_needs_the_documented_bytes_per_sample() -> None:
    module = load(MODELS / "memory_hog.py")
    weights = sum(p.numel() * p.element_size() for p in module.build_model().parameters())
    assert weights < 8 * 2**20  # small weights: the activations dominate
    per_sample = (saved_activation_bytes(module, 16) - saved_activation_bytes(module, 8)) // 8
    # Autograd saves the DEPTH tanh outputs and the (small) input of the first Linear; at its
    # peak the backward pass adds two gradients of the width of a tanh output.
    assert per_sample == module.DEPTH * module.WIDTH * 4 + module.IN_FEATURES * 4
    assert module.ACTIVATION_BYTES_PER_SAMPLE == (module.DEPTH + 2) * module.WIDTH * 4
    fits = 512 * 2**20 // module.ACTIVATION_BYTES_PER_SAMPLE
    assert 120 <= fits <= 200  # about 140 under a 512 MiB cap, before the fixed costs


@pytest.mark.parametrize(
    ("name", "present", "absent"),
    [
        ("no_build_model.py", "make_batch", "build_model"),
        ("no_make_batch.py", "build_model", "make_batch"),
    ],
)
def test_a_missing_function_is_really_missing(name: str, present: str, absent: str) -> None:
    module = load(MODELS / name)
    assert callable(getattr(module, present))
    assert not hasattr(module, absent)
    assert not hasattr(module, "model")  # the accepted alternative to build_model()


def test_syntax_error_is_a_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        load(MODELS / "syntax_error.py")


def test_import_error_is_a_missing_module() -> None:
    with pytest.raises(ModuleNotFoundError, match="bsprof_no_such_module_for_tests"):
        load(MODELS / "import_error.py")


def test_build_model_returns_an_int() -> None:
    module = load(MODELS / "build_model_returns_int.py")
    assert module.build_model() == 3
    module.make_batch(2)


def test_build_model_raises() -> None:
    module = load(MODELS / "build_model_raises.py")
    with pytest.raises(RuntimeError, match=r"^no weights$"):
        module.build_model()


def test_make_batch_returns_a_single_tensor() -> None:
    module = load(MODELS / "make_batch_wrong.py")
    batch = module.make_batch(4)
    assert isinstance(batch, torch.Tensor) and batch.shape[0] == 4
    assert isinstance(module.build_model(), nn.Module)


@pytest.mark.parametrize("batch_size", [1, 2, 4, 64])
def test_forward_raises_at_every_batch_size(batch_size: int) -> None:
    module = load(MODELS / "forward_raises.py")
    inputs, _ = module.make_batch(batch_size)
    with pytest.raises(ValueError, match=r"^shape mismatch in my layer$"):
        module.build_model()(inputs)


@pytest.mark.slow
def test_killer_runs_below_8_and_sigkills_its_process_at_8() -> None:
    # In a child process: in this one it would kill pytest.
    script = textwrap.dedent(
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("killer", {str(MODELS / "killer.py")!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_model()
        for batch_size in (1, 7, 8):
            model(module.make_batch(batch_size)[0])
            print("survived", batch_size, flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == -9, result.stderr
    assert result.stdout.split() == ["survived", "1", "survived", "7"]

"""The sweep options that change how the model file's model is trained: true low precision
(``--precision bf16-true|fp16-true``), LoRA adapters (``--lora R``), gradient checkpointing
(``--grad-checkpointing``) and torch's own optimizers (``--optimizer``).

They apply in the order a training script applies them: the model is cast first (as one loaded
with ``torch_dtype=torch.bfloat16`` is), the adapters are added next (the base frozen),
checkpointing is enabled on the result, and the optimizer is built last, over the trainable
parameters only. The same functions build the measured trials
and the fake-tensor predictions, so both see the same parameters, gradients and state.

With LoRA on a bf16-true or fp16-true model, peft keeps the adapters in fp32 (its default,
``autocast_adapter_dtype=True``, for stable adapter updates): the frozen base is half
precision, the adapters, their gradients and their optimizer state are fp32.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from bsprof.blocks import model_blocks
from bsprof.config import Precision, SweepConfig
from bsprof.errors import ModelFileError
from bsprof.model_setup import OptimizerName

TRUE_DTYPES = {Precision.BF16_TRUE: torch.bfloat16, Precision.FP16_TRUE: torch.float16}
# LoRA's scaling is alpha / r; alpha = 2r is the common choice (and peft's docs' example). It
# changes no shape, so no memory either.
LORA_ALPHA_PER_RANK = 2
# peft picks "the usual" target modules per model_type (q_proj and v_proj for Llama); a model
# peft does not know gets adapters on every linear layer (a Hugging Face model's output head
# excepted: peft leaves it out).
LORA_FALLBACK_TARGETS = "all-linear"


def check_training_options(config: SweepConfig, source: str, builds_optimizer: bool) -> None:
    """Refuse, before anything is built, options that cannot take effect: ``--optimizer``
    where the model file builds its own, ``--lora`` without peft."""
    if config.optimizer_name is not None and builds_optimizer:
        raise ModelFileError(
            f"{source}: defines build_optimizer(), so --optimizer {config.optimizer_name.value} "
            "(optimizer=) would not be what trains it; drop the option or the function"
        )
    if config.lora_rank is not None and importlib.util.find_spec("peft") is None:
        raise ModelFileError(_NO_PEFT.format(source=source))


_NO_PEFT = "{source}: LoRA (--lora / lora=) needs peft, which is not installed: pip install peft"


def apply_training_options(model: nn.Module, config: SweepConfig, source: str) -> nn.Module:
    """The model as the options train it: cast, with adapters, checkpointed (in that order)."""
    dtype = TRUE_DTYPES.get(config.precision)
    if dtype is not None:
        model = apply_precision(model, dtype)
    if config.lora_rank is not None:
        model = apply_lora(model, config.lora_rank, source)
    if config.grad_checkpointing:
        apply_grad_checkpointing(model, source)
    return model


def apply_precision(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Every floating-point parameter and buffer in ``dtype``: the weights, and so the
    gradients and the optimizer's state (created like the parameters), are all that dtype."""
    return model.to(dtype)


def apply_lora(model: nn.Module, rank: int, source: str) -> nn.Module:
    """peft's LoRA adapters of rank ``rank``; peft freezes every base parameter."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ModelFileError(_NO_PEFT.format(source=source)) from None
    if hasattr(model, "peft_config"):
        raise ModelFileError(
            f"{source}: build_model() already returns a peft model; --lora (lora=) would add "
            "adapters to its adapters: drop the option, or return the base model"
        )
    config = LoraConfig(
        r=rank,
        lora_alpha=LORA_ALPHA_PER_RANK * rank,
        target_modules=lora_targets(model),
        task_type=lora_task_type(model),
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # e.g. no linear layer to adapt
        raise ModelFileError(f"{source}: peft cannot add LoRA adapters: {exc}") from None


# A head that a fine-tune trains in full next to the adapters: peft's task types keep it
# trainable (``modules_to_save``), as people configure LoRA for these heads.
_HEAD_TASK_TYPES = (
    ("ForSequenceClassification", "SEQ_CLS"),
    ("ForTokenClassification", "TOKEN_CLS"),
    ("ForQuestionAnswering", "QUESTION_ANS"),
)


def lora_task_type(model: nn.Module) -> str | None:
    """peft's task type for a model with a freshly initialised head (an HF class name ending
    ``ForSequenceClassification``...): that head trains in full; None for any other model."""
    name = type(model).__name__
    return next((task for suffix, task in _HEAD_TASK_TYPES if name.endswith(suffix)), None)


def lora_targets(model: nn.Module) -> str | None:
    """None where peft knows the model's type (it picks the usual modules itself), else
    every linear layer."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as KNOWN

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return None if model_type in KNOWN else LORA_FALLBACK_TARGETS


def lora_description(model: nn.Module, rank: int) -> str:
    """``LoRA r=8, alpha=16 on q_proj, v_proj (peft's choice for llama)``, from the model
    after get_peft_model."""
    base = getattr(model, "get_base_model", lambda: model)()
    model_type = getattr(getattr(base, "config", None), "model_type", None)
    peft_config = getattr(model, "peft_config", {}).get("default")
    # all-linear resolves to full module paths; a module's own name is what people recognise
    targets = sorted(
        {name.rsplit(".", 1)[-1] for name in getattr(peft_config, "target_modules", None) or ()}
    )
    chosen = (
        f"peft's choice for {model_type}"
        if lora_targets(base) is None
        else f"{LORA_FALLBACK_TARGETS}: peft has no default for this model"
    )
    return f"LoRA r={rank}, alpha={LORA_ALPHA_PER_RANK * rank} on {', '.join(targets)} ({chosen})"


def describe_options(model: nn.Module, config: SweepConfig) -> tuple[str, ...]:
    """What the options did to the model, for the training setup record."""
    described = []
    if config.lora_rank is not None:
        described.append(lora_description(model, config.lora_rank))
    if config.grad_checkpointing:
        if _hf_model(model) is not None:
            described.append("gradient checkpointing: Hugging Face's, per layer")
        else:
            blocks = model_blocks(model)
            kinds = ", ".join(dict.fromkeys(type(block).__name__ for block in blocks))
            described.append(f"gradient checkpointing: {len(blocks)} blocks ({kinds})")
    return tuple(described)


def apply_grad_checkpointing(model: nn.Module, source: str) -> None:
    """Each repeated block's activations recomputed in backward (non-reentrant checkpoint):
    Hugging Face's own switch for its models, else a checkpoint around each of the model's
    blocks (bsprof.blocks)."""
    hf_model = _hf_model(model)
    if hf_model is not None:
        # HF also hooks the input embeddings to require grad when the base is frozen (LoRA),
        # so the checkpointed blocks' outputs reach the adapters' gradients.
        enable = getattr(hf_model, "activation_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:  # transformers before activation_checkpointing_enable
            hf_model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        return
    blocks = model_blocks(model)
    if not blocks:
        raise ModelFileError(
            f"{source}: --grad-checkpointing found no block to checkpoint (the model has no "
            "submodule with parameters)"
        )
    for block in blocks:
        checkpoint_block(block)


def _hf_model(model: nn.Module) -> Any:
    """The Hugging Face model that can checkpoint itself (under peft's wrapper too), or None."""
    base = getattr(model, "get_base_model", lambda: model)()
    if getattr(base, "supports_gradient_checkpointing", False) and hasattr(
        base, "gradient_checkpointing_enable"
    ):
        return base
    return None


def checkpoint_block(block: nn.Module) -> None:
    """The block's forward runs under torch.utils.checkpoint (use_reentrant=False, which needs
    no input that requires grad and allows keyword arguments); its hooks stay outside."""
    from torch.utils.checkpoint import checkpoint

    forward: Callable[..., Any] = block.forward

    @functools.wraps(forward)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():  # eval, inference_mode: nothing would be saved anyway
            return forward(*args, **kwargs)
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    block.forward = checkpointed


OPTIMIZER_CLASSES = {
    OptimizerName.ADAMW: "AdamW",
    OptimizerName.SGD: "SGD",
    OptimizerName.ADAFACTOR: "Adafactor",
}


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def optimizer_for(name: OptimizerName, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """torch's optimizer ``name`` with its defaults; SGD with momentum 0.9 (how SGD trains in
    practice; its momentum buffer is one more copy of the trainable parameters)."""
    params = list(parameters)
    if name is OptimizerName.SGD:
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name is OptimizerName.ADAFACTOR:
        return torch.optim.Adafactor(params)
    return torch.optim.AdamW(params)

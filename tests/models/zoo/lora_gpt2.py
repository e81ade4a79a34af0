"""LoRA fine-tuning: a Hugging Face GPT-2 with peft adapters on the attention projections; the
base weights are frozen (no gradients, no optimizer state)."""

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

SEQ = 64
CONFIG = GPT2Config(
    vocab_size=3000,
    n_positions=128,
    n_embd=128,
    n_layer=2,
    n_head=4,
    bos_token_id=0,
    eos_token_id=0,
)


def build_model() -> torch.nn.Module:
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True)
    return get_peft_model(GPT2LMHeadModel(CONFIG), lora)


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    ids = torch.randint(0, CONFIG.vocab_size, (batch_size, SEQ))
    return {"input_ids": ids, "labels": ids}, None

"""Tiny transformers configs written where a test wants them: hf: targets without a network."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_config(family: str, **overrides: Any) -> Any:
    """A few-thousand-parameter config of each family, with the architectures a Hub config has."""
    import transformers  # callers importorskip it first

    if family == "llama":
        values: dict[str, Any] = dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=100, max_position_embeddings=128,
            architectures=["LlamaForCausalLM"],
        )  # fmt: skip
        return transformers.LlamaConfig(**{**values, **overrides})
    if family == "gpt2":
        values = dict(
            n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64, bos_token_id=99,
            eos_token_id=99, architectures=["GPT2LMHeadModel"],
        )  # fmt: skip
        return transformers.GPT2Config(**{**values, **overrides})
    if family.startswith("bert"):
        head = "BertForMaskedLM" if family == "bert-mlm" else "BertForSequenceClassification"
        values = dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            vocab_size=100, max_position_embeddings=64, num_labels=3, architectures=[head],
        )  # fmt: skip
        return transformers.BertConfig(**{**values, **overrides})
    assert family == "t5"
    values = dict(
        d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, vocab_size=100,
        decoder_start_token_id=0, architectures=["T5ForConditionalGeneration"],
    )  # fmt: skip
    return transformers.T5Config(**{**values, **overrides})


def saved(tmp_path: Path, family: str, **overrides: Any) -> str:
    folder = tmp_path / family
    tiny_config(family, **overrides).save_pretrained(folder)
    return f"hf:{folder}"

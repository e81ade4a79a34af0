"""Models by name: ``hf:MODEL``, where MODEL is a local folder with a ``config.json``, a path to
a ``config.json`` or a Hugging Face Hub id.

Only the config is read (``AutoConfig``); the model is built from it (``AutoModelFor*
.from_config``) with random weights, or under fake tensors when predicting, so no weights are
ever downloaded or held. Batches are synthetic tokens of the shapes the task trains on.

torch and transformers are imported inside the functions that build and batch, which run in
workers: the parent only calls ``check_hf_source``, and ``import bsprof`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsprof.errors import ModelFileError, first_line
from bsprof.model_setup import Task

PREFIX = "hf:"
MAX_DEFAULT_SEQ_LEN = 512

# transformers' Auto class for each task, and the public mapping that says which configs it takes
_AUTO_CLASSES = {
    Task.CAUSAL_LM: ("AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING"),
    Task.SEQ_CLS: (
        "AutoModelForSequenceClassification",
        "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING",
    ),
    Task.MASKED_LM: ("AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING"),
    Task.SEQ2SEQ: ("AutoModelForSeq2SeqLM", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING"),
}

# transformers' loss for each task (seq2seq models compute theirs in forward)
_LOSS_TYPES = {
    Task.CAUSAL_LM: "ForCausalLM",
    Task.SEQ_CLS: "ForSequenceClassification",
    Task.MASKED_LM: "ForMaskedLM",
}

# An architecture's class name ends in its head. GPT-2's "LMHeadModel" is a causal LM.
# "ForConditionalGeneration" is T5's and BART's, but also a vision-language model's (LLaVA,
# Qwen2-VL), which is decoder-only: is_encoder_decoder tells them apart (see default_task).
_HEADS = (
    ("ForCausalLM", Task.CAUSAL_LM),
    ("LMHeadModel", Task.CAUSAL_LM),
    ("ForSequenceClassification", Task.SEQ_CLS),
    ("ForMaskedLM", Task.MASKED_LM),
    ("ForConditionalGeneration", Task.SEQ2SEQ),
)

# Config fields that bound the positions a model embeds (GPT-2's n_positions is also reachable
# as max_position_embeddings through its attribute map; the others are older spellings).
_MAX_POSITIONS = ("max_position_embeddings", "n_positions", "max_sequence_length")


def is_hf_target(target: str) -> bool:
    return target.startswith(PREFIX)


def _name(target: str) -> str:
    return target[len(PREFIX) :]


def looks_local(name: str) -> bool:
    """A path the user typed, not a Hub id (``org/name``)."""
    return (
        Path(name).expanduser().exists()
        or name.startswith((".", "/", "~"))
        or name.endswith(".json")
    )


def check_hf_source(target: str) -> None:
    """In the parent, before any worker (no torch here): a local folder must be there and
    hold a config.json. A Hub id is only known once a worker asks the Hub."""
    name = _name(target)
    if not name:
        raise ModelFileError(
            f"{target}: no model named: give a local folder with config.json, a config.json "
            "or a Hub id (hf:org/name)"
        )
    if not looks_local(name):
        return
    path = Path(name).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelFileError(f"{target}: {name} has no config.json")
    if not path.exists():
        raise ModelFileError(f"{target}: no such folder or config file")


@dataclass(frozen=True)
class HfModel:
    """An hf: target's config and task: what bsprof's model contract asks for, from them."""

    source: str
    config: Any  # a transformers PretrainedConfig
    task: Task

    @property
    def default_seq_len(self) -> int:
        """min(512, the positions the model embeds): what a run without --seq-len trains on."""
        positions = self._positions()
        # relative positions (T5): no bound of its own
        return MAX_DEFAULT_SEQ_LEN if positions is None else min(MAX_DEFAULT_SEQ_LEN, positions)

    @property
    def learned_positions(self) -> int | None:
        """How many positions the model has learned embeddings for (GPT-2, BERT): a longer
        sequence has none. None for rotary or relative positions (Llama, T5): no hard bound."""
        rotary = any(getattr(self.config, f, None) for f in ("rope_parameters", "rope_scaling"))
        if rotary or getattr(self.config, "model_type", "") == "t5":
            return None
        return self._positions()

    def _positions(self) -> int | None:
        """The positions the config bounds the model to, less RoBERTa's padding offset."""
        for field in _MAX_POSITIONS:
            value = getattr(self.config, field, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value - _position_offset(self.config)
        return None

    def build_model(self) -> Any:
        """The task's model from the config, with random weights (fake ones when predicting)."""
        import torch
        import transformers

        auto = getattr(transformers, _AUTO_CLASSES[self.task][0])
        # config.dtype is how the checkpoint is stored, not how it trains: --precision decides
        # that, as for a model file, so the weights start in torch's default dtype.
        # Weight init is kept on fake tensors too: it takes ~1 s for an 8B model there, and
        # transformers' no_init_weights also skips tie_weights, which would change memory.
        model = auto.from_config(self.config, dtype=torch.get_default_dtype())
        if getattr(model, "loss_type", None) is None and self.task in _LOSS_TYPES:
            # a class name that names no loss (GPT-2's "LMHeadModel") makes transformers warn
            # on every loss and fall back to the causal-LM loss, whatever the task
            model.loss_type = _LOSS_TYPES[self.task]
        return model

    def make_batch(self, batch_size: int, seq_len: int) -> tuple[dict[str, Any], None]:
        """Random token ids (no padding, so no attention mask) and the task's labels; targets
        None, so the model computes its own loss (``outputs.loss``)."""
        import torch

        limit = self.learned_positions
        if limit is not None and seq_len > limit:
            raise ModelFileError(
                f"{self.source}: seq_len {seq_len} is longer than the {limit} positions the "
                "model has embeddings for; give a --seq-len of at most that"
            )
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, _vocab_size(self), (batch_size, seq_len), generator=generator)
        # No attention_mask: every token is real, and an all-ones mask is what transformers
        # then skips (SDPA's is_causal, no seq x seq mask) after reading its values, which fake
        # tensors do not have: given one, a prediction would build the mask a real run never
        # does (+55% of a Llama's step at 1024 tokens). Without one both take the same path.
        inputs: dict[str, Any] = {"input_ids": ids}
        if self.task in (Task.CAUSAL_LM, Task.MASKED_LM):
            # causal-lm: the model shifts the labels itself. masked-lm: a real collator labels
            # ~15% of the tokens (-100 elsewhere); labelling all of them is the memory worst
            # case (the loss's temporaries) and needs no data-dependent masking.
            inputs["labels"] = ids.clone()
        elif self.task is Task.SEQ2SEQ:
            # the decoder's input is the labels shifted right (the model builds it)
            inputs["labels"] = torch.randint(
                0, _vocab_size(self), (batch_size, seq_len), generator=generator
            )
        else:
            inputs["labels"] = _class_labels(self.config, batch_size, generator)
        return inputs, None


# Models whose position ids start after the padding index (RoBERTa's embeddings, copied by its
# descendants): max_position_embeddings - (pad_token_id + 1) positions are usable.
_OFFSET_POSITIONS = {
    "roberta", "xlm-roberta", "camembert", "data2vec-text", "longformer",
    "roberta-prelayernorm", "xlm-roberta-xl", "ibert", "luke", "mpnet",
}  # fmt: skip


def _position_offset(config: Any) -> int:
    if getattr(config, "model_type", None) not in _OFFSET_POSITIONS:
        return 0
    pad = getattr(config, "pad_token_id", None)
    return pad + 1 if isinstance(pad, int) and pad >= 0 else 0


def _vocab_size(model: HfModel) -> int:
    config = model.config
    vocab = getattr(config, "vocab_size", None)
    if not isinstance(vocab, int) and hasattr(config, "get_text_config"):
        vocab = getattr(config.get_text_config(), "vocab_size", None)
    if not isinstance(vocab, int) or vocab <= 0:
        raise ModelFileError(f"{model.source}: its config has no vocab_size to draw tokens from")
    return vocab


def _class_labels(config: Any, batch_size: int, generator: Any) -> Any:
    import torch

    labels = int(getattr(config, "num_labels", 2))
    if labels == 1:  # transformers treats one label as regression: float targets
        return torch.randn(batch_size, generator=generator)
    return torch.randint(0, labels, (batch_size,), generator=generator)


def load_hf(target: str, task: Task | None) -> HfModel:
    """The config read and the task settled (``task``, else the config's architectures)."""
    config = _read_config(target)
    chosen = task or default_task(config)
    _check_task(target, config, chosen)
    # Training never reads a KV cache; HF's training examples turn it off, and a cache would
    # keep every layer's keys and values referenced from the outputs.
    config.use_cache = False
    if chosen is Task.SEQ_CLS and getattr(config, "pad_token_id", None) is None:
        # decoder classifiers (Llama, GPT-2) pool the last non-padding token and refuse
        # batches above 1 without a pad id; which id it is changes no memory
        eos = getattr(config, "eos_token_id", None)
        config.pad_token_id = eos if isinstance(eos, int) else 0
    return HfModel(target, config, chosen)


def default_task(config: Any) -> Task:
    """The head the config's ``architectures`` name; causal-lm (seq2seq for encoder-decoders)
    when they name none bsprof knows."""
    encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    for architecture in getattr(config, "architectures", None) or ():
        for suffix, task in _HEADS:
            if str(architecture).endswith(suffix):
                if task is Task.SEQ2SEQ and not encoder_decoder:
                    return Task.CAUSAL_LM
                return task
    return Task.SEQ2SEQ if encoder_decoder else Task.CAUSAL_LM


def supported_tasks(config: Any) -> list[Task]:
    from transformers.models.auto import modeling_auto

    return [
        task
        for task, (_, mapping) in _AUTO_CLASSES.items()
        if type(config) in getattr(modeling_auto, mapping)
    ]


def _check_task(target: str, config: Any, task: Task) -> None:
    supported = supported_tasks(config)
    if task in supported:
        return
    can = ", ".join(t.value for t in supported) or "none of bsprof's tasks"
    raise ModelFileError(
        f"{target}: a {type(config).__name__} cannot do --task {task.value} (transformers has "
        f"no {_AUTO_CLASSES[task][0]} model for it); it can do: {can}"
    )


def _read_config(target: str) -> Any:
    from transformers import AutoConfig

    name = _name(target)
    local = looks_local(name)
    try:
        return AutoConfig.from_pretrained(str(Path(name).expanduser()) if local else name)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {first_line(exc) or 'no message'}"
        hint = (
            ""
            if local or not isinstance(exc, OSError)
            else ": Hub downloads need network access; give a local folder with config.json"
        )
        raise ModelFileError(f"{target}: could not read its config ({reason}){hint}") from None

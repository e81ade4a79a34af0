"""How the user trains the model, beyond the model file: the choices a sweep's options name.
No torch here (the CLI and ``bsprof.config`` import it)."""

from __future__ import annotations

from enum import Enum


class Task(str, Enum):
    """What an ``hf:`` model is trained for: which head, which synthetic batch."""

    CAUSAL_LM = "causal-lm"  # next-token prediction (GPT, Llama): labels are the input ids
    SEQ_CLS = "seq-cls"  # one label per sequence (BERT classifiers)
    MASKED_LM = "masked-lm"  # masked tokens (BERT pre-training)
    SEQ2SEQ = "seq2seq"  # encoder-decoder (T5, BART): decoder labels


class OptimizerName(str, Enum):
    """torch's own optimizers, for a model file that builds none (``--optimizer``)."""

    ADAMW = "adamw"
    SGD = "sgd"
    ADAFACTOR = "adafactor"


class Strategy(str, Enum):
    """How ``--nproc`` ranks share the model."""

    DDP = "ddp"  # every rank holds everything; gradients all-reduced
    FSDP = "fsdp"  # FSDP2: parameters, gradients and optimizer state sharded per block

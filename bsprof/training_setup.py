"""What the user's training loop is made of, as recorded in a sweep's JSON. No torch here.

The optimizer's class and hyperparameters, the loss and the parameter counts, read from the
model and optimizer the model file builds (on fake tensors: no memory, no time), so a result
file says what was measured, not just "build_optimizer()".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonScalar = bool | int | float | str | None
# the note of a model whose lazy modules (nn.LazyLinear, ...) have not run a forward yet
LAZY_PARAMETERS = "parameters unknown until the first forward (lazy modules)"


@dataclass(frozen=True)
class TrainingSetup:
    optimizer_class: str  # e.g. torch.optim.AdamW
    optimizer_source: str  # "default", "--optimizer" or "build_optimizer()"
    loss: str  # cross_entropy, mse_loss, outputs.loss, or the user's function's name
    loss_source: str  # "default", "loss_fn()", "training_step()" or "none (eval)"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # the first param group's
    param_groups: int = 1
    group_overrides: tuple[Mapping[str, Any], ...] = ()  # groups 2..n: what differs from the first
    parameters: int | None = None
    trainable_parameters: int | None = None
    compiled: bool = False  # build_model returned a torch.compile'd module
    note: str | None = None  # what could not be inspected, and why
    # what --lora and --grad-checkpointing did: which modules got adapters, what is recomputed
    options: tuple[str, ...] = ()

    @property
    def optimizer_text(self) -> str:
        """``AdamW(lr=0.001, weight_decay=0.01)``: the class and its main settings."""
        short = self.optimizer_class.rsplit(".", 1)[-1]
        shown = [
            f"{key}={'|'.join(_short(v) for v in self._per_group(key))}"
            for key in self.hyperparameters
            if key in _HEADLINE
        ]
        groups = f", {self.param_groups} param groups" if self.param_groups > 1 else ""
        return f"{short}({', '.join(shown)}{groups})"

    def _per_group(self, key: str) -> list[Any]:
        """A hyperparameter's distinct values over the param groups, first group first."""
        values = [self.hyperparameters[key]]
        for override in self.group_overrides:
            value = override.get(key, self.hyperparameters[key])
            if value not in values:
                values.append(value)
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": {
                "class": self.optimizer_class,
                "source": self.optimizer_source,
                "hyperparameters": dict(self.hyperparameters),
                "param_groups": self.param_groups,
                "group_overrides": [dict(group) for group in self.group_overrides],
            },
            "loss": {"name": self.loss, "source": self.loss_source},
            "parameters": {"total": self.parameters, "trainable": self.trainable_parameters},
            "compiled": self.compiled,
            "setup_note": self.note,
            "training_options": list(self.options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingSetup:
        optimizer, loss = data.get("optimizer") or {}, data.get("loss") or {}
        parameters = data.get("parameters") or {}
        return cls(
            optimizer_class=str(optimizer.get("class", "unknown")),
            optimizer_source=str(optimizer.get("source", "unknown")),
            loss=str(loss.get("name", "unknown")),
            loss_source=str(loss.get("source", "unknown")),
            hyperparameters=dict(optimizer.get("hyperparameters") or {}),
            param_groups=int(optimizer.get("param_groups", 1)),
            group_overrides=tuple(dict(g) for g in optimizer.get("group_overrides") or ()),
            parameters=parameters.get("total"),
            trainable_parameters=parameters.get("trainable"),
            compiled=bool(data.get("compiled", False)),
            note=data.get("setup_note"),
            options=tuple(str(option) for option in data.get("training_options") or ()),
        )


_HEADLINE = ("lr", "momentum", "betas", "weight_decay", "eps", "alpha")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def setup_differences(old: TrainingSetup | None, new: TrainingSetup | None) -> list[str]:
    """``optimizer AdamW(lr=0.001) -> SGD(lr=0.1)``, ``parameters 1,000 -> 2,000``: what
    differs between two sweeps' training setups (nothing where either lacks one)."""
    if old is None or new is None:
        return []
    pairs = (
        ("optimizer", old.optimizer_text, new.optimizer_text),
        ("loss", old.loss, new.loss),
        ("parameters", _count(old.parameters), _count(new.parameters)),
        ("trainable", _count(old.trainable_parameters), _count(new.trainable_parameters)),
        ("options", "; ".join(old.options) or "none", "; ".join(new.options) or "none"),
    )
    return [f"{name} {a} -> {b}" for name, a, b in pairs if a != b]


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"

"""Load the user's model file and hold it to the contract.

A model target is a path (``model.py``), a module (``package.module``) or an attribute of one
(``package.module:attr``) that provides ``build_model()`` (or a module-level ``model``) and
``make_batch(batch_size)``, and optionally ``loss_fn(outputs, targets)``,
``training_step(model, inputs, targets) -> loss``, ``build_optimizer(params)`` and
``BATCH_DIM`` (the batch dimension of the inputs, 0 unless the model is sequence-first).
``make_batch(batch_size, seq_len)`` gets ``--seq-len``. A target ``hf:MODEL`` is a transformers
config instead (bsprof.hf_models), which provides the same callables. Every way the user's code
can break becomes a ModelFileError that names the file, the function and what was expected.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from bsprof.errors import ModelFileError, first_line
from bsprof.hf_models import check_hf_source, is_hf_target
from bsprof.model_setup import Task
from bsprof.units import format_bytes

_BSPROF_DIR = str(Path(__file__).resolve().parent)


@dataclass(frozen=True)
class Workload:
    """The user's callables, checked for presence; their results are checked when called."""

    source: str
    build_model: Callable[[], Any]
    make_batch: Callable[..., Any]  # (batch_size) or (batch_size, seq_len)
    loss_fn: Callable[[Any, Any], Any] | None = None
    build_optimizer: Callable[[Any], Any] | None = None
    training_step: Callable[[Any, Any, Any], Any] | None = None
    batch_dim: int = 0
    default_seq_len: int | None = None  # an hf: model's length when none is given

    @property
    def seq_len_parameter(self) -> SeqLenParameter:
        return seq_len_parameter(self.make_batch)

    def batch_length(self, seq_len: int | None) -> int | None:
        """The length make_batch gets: ``seq_len`` (``--seq-len``), else the workload's default
        where make_batch takes one; None: make_batch is called without a length."""
        parameter = self.seq_len_parameter
        if seq_len is not None and not parameter.accepted:
            raise ModelFileError(
                f"{self.source}: make_batch(batch_size) takes no seq_len: define "
                "make_batch(batch_size, seq_len) to use --seq-len"
            )
        if seq_len is None and parameter.accepted:
            seq_len = self.default_seq_len
        if seq_len is None and parameter.required:
            raise ModelFileError(
                f"{self.source}: make_batch(batch_size, seq_len) needs a sequence length: give "
                "--seq-len (seq_len= in Python), or a default for seq_len in make_batch"
            )
        return seq_len

    def batch(self, batch_size: int, seq_len: int | None) -> Any:
        """make_batch called as it takes a length (after ``batch_length``)."""
        if seq_len is None:
            return self.make_batch(batch_size)
        if self.seq_len_parameter.keyword:
            return self.make_batch(batch_size, seq_len=seq_len)
        return self.make_batch(batch_size, seq_len)


@dataclass(frozen=True)
class SeqLenParameter:
    """Whether make_batch takes a sequence length: its second positional parameter, or one
    named ``seq_len``; ``keyword`` when only by name (keyword-only)."""

    accepted: bool
    required: bool = False
    keyword: bool = False


def seq_len_parameter(make_batch: Callable[..., Any]) -> SeqLenParameter:
    try:
        parameters = list(inspect.signature(make_batch).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): called as documented
        return SeqLenParameter(False)
    named = [p for p in parameters if p.name == "seq_len" and p.kind is not p.VAR_KEYWORD]
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if named:
        # by name unless it is the second positional: make_batch(n, device=None, seq_len=128)
        # must not get the length as its device
        second = positional[1:2] == named
        return SeqLenParameter(True, named[0].default is named[0].empty, keyword=not second)
    if len(positional) >= 2:
        return SeqLenParameter(True, positional[1].default is positional[1].empty)
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return SeqLenParameter(True)
    return SeqLenParameter(False)


# The user's functions that run once per trial, before any batch: failing there is a broken
# model file (the same at every batch size), not a finding about one batch size.
SETUP_FUNCTIONS = ("build_model()", "build_optimizer()")


class UserCodeError(Exception):
    """An exception raised inside the user's code, with where it came from."""

    def __init__(self, source: str, function: str, exc: BaseException) -> None:
        self.source = source
        self.function = function
        self.original = exc
        location = user_frame(exc.__traceback__)
        where = f" (at {location})" if location else ""
        text = first_line(exc)
        super().__init__(f"{source}: {function} raised {type(exc).__name__}: {text}{where}")

    @property
    def in_setup(self) -> bool:
        return self.function in SETUP_FUNCTIONS


def user_frame(tb: TracebackType | None) -> str | None:
    """The innermost frame outside torch and bsprof: the user's line, as ``file:line in fn``."""
    found = None
    for frame in traceback.extract_tb(tb):
        name = frame.filename
        if name.startswith(_BSPROF_DIR) or "/torch/" in name or name.startswith("<"):
            continue
        found = f"{Path(name).name}:{frame.lineno} in {frame.name}"
    return found


# Objects in memory that stand for a model file while bsprof.predict runs them in-process.
_IN_MEMORY: dict[str, Any] = {}


@contextlib.contextmanager
def in_memory_workload(name: str, holder: Any) -> Iterator[None]:
    """While inside, ``load_workload(name)`` takes the callables from ``holder``."""
    previous = _IN_MEMORY.get(name)
    _IN_MEMORY[name] = holder
    try:
        yield
    finally:
        if previous is None:
            del _IN_MEMORY[name]
        else:
            _IN_MEMORY[name] = previous


def check_model_source(target: str, task: Task | None = None) -> None:
    """Refuse a model file that is not there (or is a directory), an hf: folder without a
    config.json, and a task for a model file, before any worker starts."""
    if is_hf_target(target):
        check_hf_source(target)
        return
    _refuse_task(target, task)
    path = target.partition(":")[0]
    if Path(path).is_dir():
        raise ModelFileError(f"{path}: is a directory, not a model file")
    if path.endswith(".py") and not Path(path).is_file():
        raise ModelFileError(f"{path}: no such model file")


def load_workload(target: str, task: Task | None = None) -> Workload:
    """The model file (a path, or ``package.module[:attr]``) imported and checked, or an hf:
    model's config read and its ``task`` settled."""
    if is_hf_target(target):
        from bsprof.hf_models import load_hf

        model = load_hf(target, task)
        return replace(workload_from(model, target), default_seq_len=model.default_seq_len)
    _refuse_task(target, task)
    if target in _IN_MEMORY:
        return workload_from(_IN_MEMORY[target], target)
    return workload_from(_import_target(target), target)


def _refuse_task(target: str, task: Task | None) -> None:
    if task is not None:
        raise ModelFileError(
            f"{target}: --task {task.value} is for hf: models; a model file's make_batch "
            "builds its own batch and build_model its own head"
        )


def workload_from(module: Any, source: str) -> Workload:
    """The contract's callables from any object that has them as attributes: an imported
    model file, or (for in-process predictions) a module, class or namespace in memory."""
    build_model = getattr(module, "build_model", None)
    if build_model is None and getattr(module, "model", None) is not None:
        instance = module.model
        build_model = lambda: instance  # noqa: E731 - a module-level model is accepted as-is
    if build_model is None:
        raise ModelFileError(
            f"{source}: no build_model() found: define `def build_model() -> torch.nn.Module` "
            "(or a module-level `model`)"
        )
    make_batch = getattr(module, "make_batch", None)
    if make_batch is None:
        raise ModelFileError(
            f"{source}: no make_batch() found: define `def make_batch(batch_size: int)` "
            "returning (inputs, targets)"
        )
    optional = {
        name: getattr(module, name, None)
        for name in ("loss_fn", "build_optimizer", "training_step")
    }
    for name, value in {"build_model": build_model, "make_batch": make_batch, **optional}.items():
        if value is not None and not callable(value):
            raise ModelFileError(
                f"{source}: {name} is a {type(value).__name__}, expected a function"
            )
    return Workload(
        source,
        build_model,
        make_batch,
        optional["loss_fn"],
        optional["build_optimizer"],
        optional["training_step"],
        _batch_dim(source, module),
    )


def _batch_dim(source: str, module: Any) -> int:
    value = getattr(module, "BATCH_DIM", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelFileError(
            f"{source}: BATCH_DIM must be a non-negative integer (the inputs' batch dimension), "
            f"got {value!r}"
        )
    return value


def _import_target(target: str) -> Any:
    module_part, _, attr = target.partition(":")
    path = Path(module_part)
    if module_part.endswith(".py") or path.exists():
        module = _import_file(path)
    else:
        module = _import_module(module_part)
    if not attr:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelFileError(f"{module_part}: has no attribute {attr!r}") from None


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    directory = str(path.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # so the model file can import its neighbours
    spec = importlib.util.spec_from_file_location(f"bsprof_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    _run_import(str(path), lambda: spec.loader.exec_module(module))  # type: ignore[union-attr]
    return module


def _import_module(name: str) -> ModuleType:
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules under the working directory
    holder: list[ModuleType] = []
    _run_import(name, lambda: holder.append(importlib.import_module(name)))
    return holder[0]


def _run_import(source: str, load: Callable[[], None]) -> None:
    try:
        load()
    except SyntaxError as exc:
        raise ModelFileError(
            f"{source}:{exc.lineno}: syntax error: {exc.msg}"
            + (f": {exc.text.strip()}" if exc.text else "")
        ) from None
    except ModuleNotFoundError as exc:
        if exc.name and source.split(":")[0].replace("/", ".").removesuffix(".py").endswith(
            exc.name
        ):
            raise ModelFileError(f"{source}: no such module") from None
        raise ModelFileError(
            f"{source}: importing it failed: {type(exc).__name__}: {exc}" + _at(exc.__traceback__)
        ) from None
    except (Exception, SystemExit) as exc:
        if _is_out_of_memory(exc):
            raise ModelFileError(
                f"{source}: importing it ran out of memory under bsprof's memory cap: code at "
                "module level allocates more than a trial may use; build tensors in "
                "build_model() or make_batch()" + _at(exc.__traceback__)
            ) from None
        raise ModelFileError(
            f"{source}: importing it failed: {type(exc).__name__}: {first_line(exc)}"
            + _at(exc.__traceback__)
        ) from None


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "can't allocate memory" in text


def _at(tb: TracebackType | None) -> str:
    location = user_frame(tb)
    return f" (at {location})" if location else ""


def check_import(model: str, import_bytes: int, limit_bytes: int | None) -> None:
    """Memory the import itself kept (module-level tensors) must fit the trial's limit too."""
    if limit_bytes is not None and import_bytes > limit_bytes:
        raise ModelFileError(
            f"{model}: importing it took {format_bytes(import_bytes)} of memory (module-level "
            f"tensors?), more than the {format_bytes(limit_bytes)} memory limit allows a whole "
            "trial; build tensors in build_model() or make_batch()"
        )

"""The model's libraries, imported once in the fork server instead of in every child.

Every job (the probe, the prediction, each trial) imports the user's model file in a fresh
child; a file that imports transformers pays ~1.4 s for it in each. The fork server already
preloads torch (bsprof.runner.pool); it preloads the model's third-party libraries too, found by
reading the file with ``ast``: the file itself is never imported here, nor in the fork server,
where its code would run outside the child's guards (the memory cap, the captured output).

``library_modules`` (the parent) says what to import; ``import_quietly`` (the fork server, via
bsprof.runner._preload_libraries) imports it. Preloading is only a speed-up: what the fork
server could not import, a child imports itself, as it always did. No torch here.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bsprof.hf_models import is_hf_target

if TYPE_CHECKING:
    from bsprof.config import SweepConfig

# The parent names the imports here before the fork server starts; the server inherits it.
PRELOAD_ENV = "BSPROF_PRELOAD_IMPORTS"

# Preloaded already (torch) or bsprof's own (the preload list's first modules import it).
_ALREADY_LOADED = frozenset({"torch", "bsprof"})
# What bsprof.hf_models imports in every child for an hf: model
_HF_IMPORTS = ("transformers", "transformers:AutoConfig")
_LORA_IMPORT = "peft"  # bsprof.training_options.apply_lora


def library_modules(model: str, config: SweepConfig | None = None) -> tuple[str, ...]:
    """The imports the fork server should run once for ``model``, each a module (``a.b``, as
    ``import a.b``) or a name from one (``a.b:c``, as ``from a.b import c``), of third-party
    libraries only (see ``is_library``). A model file's are its module-level imports, read from
    its source; an hf: model's are transformers'; LoRA adds peft. () for a model file that
    cannot be read or parsed, and for a ``package.module`` target (finding it would import its
    package: the user's code)."""
    if is_hf_target(model):
        found, folder = list(_HF_IMPORTS), None
    else:
        path = Path(model.partition(":")[0])
        found, folder = list(_file_imports(path)), path.resolve().parent
    if config is not None and config.lora_rank is not None:
        found.append(_LORA_IMPORT)
    libraries = {name: is_library(name, folder) for name in {_package(i) for i in found}}
    return tuple(dict.fromkeys(i for i in found if libraries[_package(i)]))


def is_library(name: str, model_folder: Path | None = None) -> bool:
    """A top-level package that is installed, not the standard library, not preloaded already
    and not the user's: not next to the model file, nor in the working directory (the fork
    server's ``sys.path`` starts with it, as ``python -c`` does). Found without importing it."""
    if name in sys.stdlib_module_names or name in _ALREADY_LOADED:
        return False
    users = [str(Path.cwd())] + ([str(model_folder)] if model_folder is not None else [])
    if importlib.machinery.PathFinder.find_spec(name, users) is not None:
        return False
    try:
        return importlib.util.find_spec(name) is not None  # top-level: imports nothing
    except (ImportError, ValueError):  # a half-imported module in sys.modules, a bad name
        return False


def _package(entry: str) -> str:
    return entry.partition(":")[0].partition(".")[0]


def _file_imports(path: Path) -> Iterator[str]:
    """The absolute imports a Python file runs at module level, conditional ones included."""
    if path.suffix != ".py":
        return
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):  # ValueError: null bytes in the source
        return
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [alias.name for alias in node.names if alias.name != "*"]
            yield from [f"{node.module}:{name}" for name in names] or [node.module]


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported: into if, try and with blocks, not into
    functions or classes, nor ``if TYPE_CHECKING:`` (it never runs)."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_quietly(entries: Iterable[str]) -> tuple[str, ...]:
    """Run each import (``library_modules``' form); the ones that worked. In the fork server:
    whatever an import raises is swallowed (multiprocessing tolerates only ImportError there;
    anything else would kill the server), warnings are ignored and its output goes nowhere
    (the server's output is the user's terminal)."""
    done = []
    with warnings.catch_warnings(), _output_discarded():
        warnings.simplefilter("ignore")
        for entry in entries:
            module, _, name = entry.partition(":")
            try:
                imported = importlib.import_module(module)
                # as `from module import name` does: an attribute, else a submodule
                if name and not hasattr(imported, name):
                    importlib.import_module(f"{module}.{name}")
            except (Exception, SystemExit):  # not preloaded: the child imports it itself
                continue
            done.append(entry)
    return tuple(done)


@contextlib.contextmanager
def _output_discarded() -> Iterator[None]:
    """stdout and stderr, Python's and the file descriptors' (a C extension's prints), to
    /dev/null while inside."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with (
            open(os.devnull, "w") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)

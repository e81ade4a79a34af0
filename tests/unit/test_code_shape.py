"""The package's shape stays walkable: no import cycle, no module or function past its limit
(benchmarks/code_shape.py prints the longest of each)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _shape() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "code_shape", ROOT / "benchmarks" / "code_shape.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["code_shape"] = module
    spec.loader.exec_module(module)
    return module


def test_no_import_cycle() -> None:
    shape = _shape()
    assert shape.cycles(shape.import_graph()) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    shape = _shape()
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    import pkg.a\n")  # a function-level import
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    assert shape.cycles(shape.import_graph(package)) == [["pkg.a", "pkg.b"]]


def test_modules_and_functions_stay_short() -> None:
    shape = _shape()
    long_modules = [m for m in shape.module_sizes() if m.lines > shape.MAX_MODULE_LINES]
    long_functions = [f for f in shape.function_sizes() if f.lines > shape.MAX_FUNCTION_LINES]
    assert long_modules == []
    assert long_functions == []

"""The shape of bsprof's code: the longest modules and functions, and any import cycle.

    python benchmarks/code_shape.py        # prints the ten longest of each, and the cycles

Lines are counted from a ``def`` to its last line (signature and docstring included). An
import is an edge wherever it is written (a function-level import counts); one under
``if TYPE_CHECKING:`` does not, as it never runs. tests/unit/test_code_shape.py holds the
limits: modules at most MAX_MODULE_LINES, functions at most MAX_FUNCTION_LINES, no cycle.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bsprof"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


@dataclass(frozen=True)
class Sized:
    name: str
    lines: int


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def module_sizes(package: Path = PACKAGE) -> list[Sized]:
    sizes = [Sized(n, len(p.read_text().splitlines())) for n, p in module_names(package).items()]
    return sorted(sizes, key=lambda s: -s.lines)


def function_sizes(package: Path = PACKAGE) -> list[Sized]:
    sizes = []
    for name, path in module_names(package).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                sizes.append(Sized(f"{name}.{node.name}", _body_lines(node)))
    return sorted(sizes, key=lambda s: -s.lines)


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's code: its body without the signature and the docstring. A CLI command's
    signature is its option list (declarations, one per line) and its docstring is its --help;
    neither is logic to keep short."""
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    end = node.end_lineno or node.lineno
    return end - body[0].lineno + 1


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_names(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) not in typing_only:
                graph[name] |= {t for t in _imported(node) if t in modules and t != name}
    return graph


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        # `from a import b` runs a/__init__ and, when b is a module, b itself
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> None:
    print(f"bsprof's code shape ({PACKAGE}); limits: {MAX_MODULE_LINES} lines a module, "
          f"{MAX_FUNCTION_LINES} a function")  # fmt: skip
    print("Longest modules:")
    for sized in module_sizes()[:10]:
        print(f"  {sized.lines:5d}  {sized.name}")
    print("Longest functions:")
    for sized in function_sizes()[:10]:
        print(f"  {sized.lines:5d}  {sized.name}")
    found = cycles(import_graph())
    print("Import cycles: " + ("none" if not found else "; ".join(" <-> ".join(c) for c in found)))


if __name__ == "__main__":
    main()

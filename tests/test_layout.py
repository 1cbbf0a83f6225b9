"""The library's import graph has no circle of two: no module imports a module that imports it back.

Imports inside functions count too (a lazy import hides a circle, it does not remove it). An
edge goes to the module actually named: `from tfnas.genotypes import policy` is an edge to
`tfnas.genotypes.policy` when that is a module, else to the package.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _import_graph() -> dict[str, set[str]]:
    files = {}
    for path in (ROOT / "tfnas").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfnas"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    edges.add(sub if sub in files else node.module)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.startswith("tfnas"))
        # a package's own submodules import from it by design (`from tfnas.data import x`)
        graph[name] = {e for e in edges if e in files and e != name}
    return graph


def test_no_module_imports_a_module_that_imports_it_back():
    graph = _import_graph()
    assert "tfnas.supernets.darts" in graph and "tfnas.algorithms.mobile_pipeline" in graph
    circles = sorted((a, b) for a in graph for b in graph[a] if a < b and a in graph[b]
                     and not (b.startswith(a + ".") or a.startswith(b + ".")))
    assert circles == [], circles

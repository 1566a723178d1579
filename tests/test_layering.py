"""The package's layering, read from the source with `ast`: core imports nothing from lab/ or cli/, and no
module imports itself back through others (at top level or inside a function, since both run sooner or later)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import musefuse

ROOT = Path(musefuse.__file__).parent
SUB_PACKAGES = ("core", "plugins", "cli", "lab")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["musefuse", *parts])


def _modules() -> dict[str, Path]:
    files = list(ROOT.glob("*.py")) + [p for d in SUB_PACKAGES for p in (ROOT / d).rglob("*.py")]
    return {_module_name(p): p for p in files}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The musefuse modules a module imports anywhere in its body (`if TYPE_CHECKING:` blocks excepted)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([node.module] if node.module else [])])
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {name for name in found if name in known}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
            - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_package():
    graph = _graph()
    assert {"musefuse.core.runs.runner", "musefuse.cli.app", "musefuse.lab.synth"} <= set(graph)
    assert "musefuse.core.method.plan" in graph["musefuse.core.runs.session"]


def test_core_imports_nothing_from_lab_or_cli():
    bad = sorted(f"{m} imports {t}" for m, targets in _graph().items() if m.startswith("musefuse.core")
                 for t in targets if t.startswith(("musefuse.lab", "musefuse.cli")))
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# The engine knows nothing of the method, its data, its settings or its plugins (issue 33).
ENGINE = "musefuse.core.engine"
ENGINE_MUST_NOT_IMPORT = ("musefuse.core.data", "musefuse.core.learning", "musefuse.core.method",
                          "musefuse.core.config", "musefuse.core.plugin_host")


def test_the_engine_imports_nothing_of_the_method():
    bad = sorted(f"{m} imports {t}" for m, targets in _graph().items() if m == ENGINE or m.startswith(ENGINE + ".")
                 for t in targets if t.startswith(ENGINE_MUST_NOT_IMPORT))
    assert not bad, "\n".join(bad)


def test_the_engine_names_nothing_of_the_method_even_in_text():
    """The grep of issue 33's 'done when': not in a string, a comment or a TYPE_CHECKING block either."""
    pattern = re.compile(r"musefuse\.core\.(data|learning|method|config)|plugin_host")
    hits = [f"{p.name}:{n}: {line.strip()}" for p in sorted((ROOT / "core" / "engine").rglob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not hits, "\n".join(hits)


def test_modules_of_core_and_lab_stay_small():
    # small modules with one job (issue 33): a module past ~450 lines is two jobs, split it by what it does
    long = {str(p.relative_to(ROOT)): n for p in _modules().values()
            if p.relative_to(ROOT).parts[0] in ("core", "lab") and (n := len(p.read_text().splitlines())) > 450}
    assert not long, long

"""The package's layers point one way (docs/architecture.md#layers).

Every ``import auditor...`` in every module, at the top or inside a function,
is checked against the layer map below: a module may import its own layer and
the layers listed for it, nothing else. So the golden calculator never learns
of the comparison, the renderers or the synthetic data, and a heavy or upper
module cannot sneak in through a lazy import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"

# layer -> the modules (dotted prefixes) in it
LAYERS = {
    "foundation": ("auditor", "auditor.errors", "auditor.yamldoc", "auditor.windows", "auditor.tables",
                   "auditor.sqlengine"),
    "golden": ("auditor.golden",),
    "localize": ("auditor.localize",),
    "quality": ("auditor.quality",),
    "mechanisms": ("auditor.mechanisms",),
    "comparison": ("auditor.config", "auditor.tolerances", "auditor.findings", "auditor.sources",
                   "auditor.session_rows", "auditor.reconcile", "auditor.deviations", "auditor.audit",
                   "auditor.explain"),
    "render": ("auditor.render",),
    "synth": ("auditor.synth", "auditor.generate", "auditor.scenarios"),
    "gate": ("auditor.gate",),
    "history": ("auditor.history",),
    "cli": ("auditor.cli", "auditor.__main__"),
}
# layer -> the layers it may import besides itself
MAY_IMPORT = {
    "foundation": set(),
    "golden": {"foundation"},
    "localize": {"foundation"},
    "quality": {"foundation", "golden"},
    "mechanisms": {"foundation", "golden"},
    "comparison": {"foundation", "golden", "localize", "quality", "mechanisms"},
    "render": {"foundation", "golden", "localize", "quality", "mechanisms", "comparison"},
    "history": {"foundation", "golden", "localize", "quality", "mechanisms", "comparison", "render"},
    "synth": {"foundation", "golden", "localize", "quality", "mechanisms", "comparison", "render", "history"},
    "gate": {"foundation", "golden", "localize", "quality", "mechanisms", "comparison", "render", "history",
             "synth"},
    "cli": set(LAYERS) - {"cli"},
}


def layer_of(module: str) -> str:
    """The layer of a dotted module name: the longest matching prefix wins."""
    best = max((p for ps in LAYERS.values() for p in ps if module == p or module.startswith(p + ".")),
               key=len, default=None)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return next(name for name, prefixes in LAYERS.items() if best in prefixes)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every auditor module ``path`` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "auditor"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "auditor":
            found.add(node.module)
            # `from auditor.golden import calculator` imports the submodule auditor.golden.calculator
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if (PACKAGE.parent / node.module.replace(".", "/") / f"{a.name}.py").exists()}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_an_upper_layer(path):
    here = layer_of(module_name(path))
    allowed = MAY_IMPORT[here] | {here}
    wrong = sorted(m for m in imported_modules(path) if layer_of(m) not in allowed)
    assert not wrong, f"{module_name(path)} ({here} layer) imports {wrong}"


def test_the_golden_calculator_knows_nothing_of_comparison_render_or_synth():
    for path in (PACKAGE / "golden").rglob("*.py"):
        for module in imported_modules(path):
            assert layer_of(module) in {"foundation", "golden"}, f"{path.name} imports {module}"


def test_no_import_cycle_between_modules():
    graph = {module_name(p): {m for m in imported_modules(p) if m != module_name(p)} for p in MODULES}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    # package __init__ files re-export their own submodules: that is not a circle
    graph = {m: {d for d in deps if not (PACKAGE / m.split(".", 1)[-1].replace(".", "/")).is_dir()
                 or not d.startswith(m + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_layer_map_catches_an_upward_import(tmp_path):
    """The check itself works: an import of the renderers from golden is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from auditor.render import write_reports\n")
    assert {layer_of(m) for m in imported_modules(bad)} == {"render"}
    assert "render" not in MAY_IMPORT["golden"]


def test_sqlalchemy_is_imported_in_one_module():
    """Heavy dependencies behind one door (style.md habit 12): sources and the history store
    reach SQL engines through auditor/sqlengine.py only."""
    importers = set()
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "sqlalchemy" for n in names):
                importers.add(module_name(path))
    assert importers == {"auditor.sqlengine"}

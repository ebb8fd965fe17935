"""Dependencies point one way (docs/ARCHITECTURE.md). Walks every module's imports with ast so
a wrong-way import fails here, long before it tangles the packages."""
import ast
import os
import subprocess
import sys
from pathlib import Path


SRC = Path(__file__).resolve().parents[1] / "src"

PURE_VOCABULARY = ("sgp22.es10_enums", "sgp22.results", "sgp22.cancel_reasons")
"""The sgp22 modules that only declare values (SGP.22, OpenHarmony and Windows numberings) and
import nothing but the standard library and each other: what even the machines and the contract may import,
so each enum is declared once."""

# package prefix -> module prefixes it must never import
FORBIDDEN = {
    "sgp22": ["esimflow", "esimcli", "rsplab", "temporalio", "carddrivers", "smartcard", "serial"],
    "carddrivers": ["esimflow", "esimcli", "rsplab", "temporalio"],
    "rsplab": ["esimflow", "esimcli", "temporalio"],
    "esimflow.machines": ["temporalio", "sgp22", "rsplab", "esimcli", "httpx", "smartcard", "sqlite3"],
    "esimflow.contract": ["temporalio", "esimflow.client", "esimflow.workflows", "esimflow.activities", "httpx",
                          "smartcard", "sqlite3"],
    "esimflow.workflows": ["rsplab", "esimcli", "httpx", "smartcard", "serial", "carddrivers",
                           "sgp22.es9"],
    "esimflow": ["esimcli", "rsplab"],
}

# package prefix -> modules it may import although FORBIDDEN names their package
ALLOWED = {
    "esimflow.machines": PURE_VOCABULARY,
    # the pure machines (they import only ``transitions``), so the lab SM-DP+ records status
    # changes through the same ProfileStatus machine as the engine
    "rsplab": ("esimflow.machines",),
}


def _module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# --- import cycles ---------------------------------------------------------------------------
# An edge A -> B is any import of B in A's file, at module level or inside a function: a
# function-level import only defers a cycle (the two modules still need each other), and the
# CLI's lazy imports point one way, so they pass. Imports under ``if TYPE_CHECKING:`` do not
# count: they never run, and with postponed annotations they are names for the type checker only.
# ``from package import name`` is an edge to ``package.name`` when that is a module, else to
# ``package``; importing ``a.b.c`` is an edge to ``a.b.c`` only (not to the ``__init__`` of each
# parent, which would make every package that re-exports its submodules a cycle).


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def _import_graph(src: Path = SRC) -> dict[str, set[str]]:
    paths = {_module_name(path, src): path for path in src.rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base
                           for alias in node.names)
        graph[module] = {found for found in map(known, targets) if found and found != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, successors = work[-1]
            successor = next(successors, None)
            if successor is not None:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                elif successor in on_stack:
                    low[module] = min(low[module], index[successor])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_no_import_cycles():
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_sees_function_level_imports_but_not_type_checking_ones(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def late():\n    from pkg.c import thing\n")
    (package / "c.py").write_text("from . import a\n")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.e\n")
    (package / "e.py").write_text("import pkg.d\n")
    assert _cycles(_import_graph(tmp_path)) == [["pkg.a", "pkg.b", "pkg.c"]]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        module = _module_name(path, src)
        rules = [forbidden for owner, forbidden in FORBIDDEN.items() if _within(module, owner)]
        allowed = [prefix for owner, prefixes in ALLOWED.items() if _within(module, owner) for prefix in prefixes]
        for imported in _imports(path):
            if any(_within(imported, prefix) for prefix in allowed):
                continue
            for forbidden in (f for rule in rules for f in rule):
                if _within(imported, forbidden):
                    bad.append(f"{module} imports {imported}")
    return bad


def test_dependencies_point_one_way():
    assert _violations() == []


def test_the_rule_catches_a_wrong_way_import(tmp_path):
    fake = tmp_path / "rsplab"
    fake.mkdir()
    (fake / "leak.py").write_text("import esimflow.workflows\n")
    assert _violations(tmp_path) == ["rsplab.leak imports esimflow.workflows"]


def test_the_pure_vocabulary_imports_only_the_standard_library():
    """What the machines may import stays pure: an sgp22 import in it would bring the codec (or
    worse) into every machine and break the layering the exception relies on."""
    for module in PURE_VOCABULARY:
        imported = _imports(SRC / (module.replace(".", "/") + ".py"))
        outside = {name for name in imported if name not in PURE_VOCABULARY}
        assert {name.split(".")[0] for name in outside} <= set(sys.stdlib_module_names), module


def test_the_machines_may_import_the_vocabulary_but_not_the_rest_of_sgp22(tmp_path):
    fake = tmp_path / "esimflow" / "machines"
    fake.mkdir(parents=True)
    (fake / "vocabulary.py").write_text("from sgp22.es10_enums import ProfileClass\nfrom sgp22.results import WinStatus\n")
    (fake / "leak.py").write_text("from sgp22.codec import decode\n")
    assert _violations(tmp_path) == ["esimflow.machines.leak imports sgp22.codec"]


def test_the_contract_loads_without_the_temporal_client():
    """Workflows import the contract inside the sandbox and a client reads it without a server:
    nothing it pulls in, however indirectly, may load temporalio (the client module does)."""
    probe = "import sys, esimflow.contract; print(sorted(m for m in sys.modules if m.startswith('temporalio')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)}).stdout.strip()
    assert loaded == "[]"


def test_the_lab_may_import_the_pure_machines_and_nothing_else_of_the_engine(tmp_path):
    fake = tmp_path / "rsplab"
    fake.mkdir()
    (fake / "status.py").write_text("from esimflow.machines.profile_status import Status\n"
                                    "import esimflow.history\n")
    assert _violations(tmp_path) == ["rsplab.status imports esimflow.history"]

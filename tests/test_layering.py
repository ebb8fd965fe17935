"""Dependencies point one way (docs/ARCHITECTURE.md). Walks every module's imports with ast so
a wrong-way import fails here, long before it tangles the packages."""
import ast
from pathlib import Path


SRC = Path(__file__).resolve().parents[1] / "src"

# package prefix -> module prefixes it must never import
FORBIDDEN = {
    "sgp22": ["esimflow", "esimcli", "rsplab", "temporalio", "carddrivers", "smartcard", "serial"],
    "carddrivers": ["esimflow", "esimcli", "rsplab", "temporalio"],
    "rsplab": ["esimflow", "esimcli", "temporalio"],
    "esimflow.machines": ["temporalio", "sgp22", "rsplab", "esimcli", "httpx", "smartcard", "sqlite3"],
    "esimflow.workflows": ["rsplab", "esimcli", "httpx", "smartcard", "serial", "carddrivers",
                           "sgp22.es9"],
    "esimflow": ["esimcli", "rsplab"],
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


def _violations(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        module = _module_name(path, src)
        rules = [forbidden for owner, forbidden in FORBIDDEN.items()
                 if module == owner or module.startswith(owner + ".")]
        for imported in _imports(path):
            for forbidden in (f for rule in rules for f in rule):
                if imported == forbidden or imported.startswith(forbidden + "."):
                    bad.append(f"{module} imports {imported}")
    return bad


def test_dependencies_point_one_way():
    assert _violations() == []


def test_the_rule_catches_a_wrong_way_import(tmp_path):
    fake = tmp_path / "rsplab"
    fake.mkdir()
    (fake / "leak.py").write_text("import esimflow.workflows\n")
    assert _violations(tmp_path) == ["rsplab.leak imports esimflow.workflows"]

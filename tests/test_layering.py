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

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

# exceptions to FORBIDDEN: pure sgp22 vocabulary (no I/O, no codec) the machines may share
ALLOWED = {
    "esimflow.machines": ["sgp22.es10_enums", "sgp22.cancel_reasons"],
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


def _violations(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        module = _module_name(path, src)
        rules = [forbidden for owner, forbidden in FORBIDDEN.items()
                 if module == owner or module.startswith(owner + ".")]
        allowed = [a for owner, names in ALLOWED.items() if module == owner or module.startswith(owner + ".")
                   for a in names]
        for imported in sorted(_imports(path) - set(allowed)):
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

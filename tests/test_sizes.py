"""No module over ~400 lines, no function over ~60 (the developers' guide): a module that size has
more than one concern, a function that long more than one step. Listing the offenders is also a
script: ``python -m tests.test_sizes`` (from the repository root).

``KNOWN`` names what is over today and who is splitting it; a file that shrinks below the limits
must leave the list (the test says so), and nothing may join it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ("src", "bench", "scripts")
MAX_MODULE_LINES = 420  # "~400": a few lines over is not yet a second concern
MAX_FUNCTION_LINES = 60

KNOWN: set[str] = set()


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{prefix}{node.name}", node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")


def offenders(root: Path = ROOT) -> dict[str, int]:
    """``path`` (module) or ``path::qualified.name`` (function) -> its length in lines."""
    found: dict[str, int] = {}
    for tree in TREES:
        for path in sorted((root / tree).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            text = path.read_text()
            lines = text.count("\n")
            if lines > MAX_MODULE_LINES:
                found[name] = lines
            for qualified, node in _functions(ast.parse(text, filename=name)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{name}::{qualified}"] = length
    return found


def test_no_new_module_or_function_over_the_limits():
    new = {name: lines for name, lines in offenders().items() if name not in KNOWN}
    assert new == {}, "split these by concern (or, if another change is splitting them, say so in KNOWN)"


def test_what_was_split_leaves_the_known_list():
    assert sorted(KNOWN - set(offenders())) == []


def test_the_check_sees_long_methods_and_long_modules(tmp_path):
    (tmp_path / "src").mkdir()
    body = "".join(f"        x{i} = {i}\n" for i in range(60))
    (tmp_path / "src" / "long.py").write_text("class A:\n    def f(self):\n" + body + "#\n" * 500)
    assert set(offenders(tmp_path)) == {"src/long.py", "src/long.py::A.f"}


if __name__ == "__main__":
    for name, lines in sorted(offenders().items()):
        print(f"{lines:5d}  {name}{'' if name in KNOWN else '  (new)'}")

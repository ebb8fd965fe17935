"""The replay-safety ban in pyproject.toml (ruff TID251, run by `make test`) reaches every workflow
module: a workflow defined in a file outside the ban's paths would be free to read the clock."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUFF = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise"]


def _banned_in(path: Path) -> bool:
    probe = subprocess.run([*RUFF, "--stdin-filename", str(path.relative_to(ROOT)), "-"],
                           input="import time\n\ntime.time()\n", capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    return "TID251" in probe.stdout


def test_every_workflow_module_is_held_to_the_replay_ban():
    workflow_modules = [path for path in sorted((ROOT / "src").rglob("*.py"))
                        if re.search(r"^\s*@workflow\.defn", path.read_text(), re.MULTILINE)]
    assert workflow_modules
    assert [str(path) for path in workflow_modules if not _banned_in(path)] == []


def test_activities_may_use_the_clock():
    assert not _banned_in(ROOT / "src" / "esimflow" / "activities" / "card.py")

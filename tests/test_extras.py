"""pyscard and the HTTP servers are extras ([pcsc], [lab]); a host installed without one gets an
error that names the extra to install, not a bare ModuleNotFoundError from deep inside."""
import subprocess
import sys

import pytest

# module that needs the extra, a module of the extra to hide, the extra the error must name
NEEDS_AN_EXTRA = [
    ("carddrivers.pcsc", "smartcard", "pcsc"),
    ("rsplab.pcscd", "smartcard", "pcsc"),
    ("rsplab.smdp.server", "uvicorn", "lab"),
    ("rsplab.smdp.server", "starlette", "lab"),
    ("rsplab.smdp.app", "starlette", "lab"),
    ("esimflow.codec_server", "starlette", "lab"),
    ("esimcli.console", "starlette", "lab"),
    ("esimcli.console", "jinja2", "lab"),
]


@pytest.mark.parametrize(("module", "hidden", "extra"), NEEDS_AN_EXTRA)
def test_a_missing_extra_is_named(module, hidden, extra):
    # None in sys.modules makes every import of the package fail as if it were not installed.
    script = f"import sys; sys.modules[{hidden!r}] = None; import {module}"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ModuleNotFoundError:")
    assert f"pip install 'esimflow[{extra}]'" in last_line
    assert hidden in last_line


def test_the_cli_starts_without_the_extras():
    script = ("import sys\n"
              "for hidden in ('smartcard', 'starlette', 'uvicorn', 'jinja2'): sys.modules[hidden] = None\n"
              "from esimcli.main import main\n"
              "main(['ac', 'parse', '1$smdp.example.com$MATCHING-ID'])\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "smdp.example.com" in run.stdout


@pytest.mark.parametrize("hidden", [("starlette", "uvicorn", "jinja2"), ("smartcard",)])
def test_an_engine_host_needs_neither_extra(hidden):
    # the worker and the operation commands: what deploy/Dockerfile's engine hosts run
    script = (f"import sys\nfor hidden in {hidden!r}: sys.modules[hidden] = None\n"
              "import esimcli.worker_cmd, esimflow.workers.run, esimcli.download_cmd, esimcli.migrate_cmd\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

"""`esimflow --help` and the light commands start fast because the group imports a command's
module only when that command is used; the group's own list must still match the commands."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from esimcli.commands import FAMILIES
from esimcli.main import main

# What `esimflow --help` and `esimflow ac parse` must not import: they are the slow part of a start.
HEAVY = ("temporalio", "esimflow", "rsplab", "carddrivers", "httpx", "cryptography", "starlette",
         "uvicorn", "smartcard", "psycopg", "asn1tools")


def _modules_after(*arguments: str) -> tuple[set[str], str]:
    script = ("import sys\n"
              "from esimcli.main import main\n"
              f"try:\n    main({list(arguments)!r})\n"
              "except SystemExit as done:\n    assert not done.code, done.code\n"
              "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return set(run.stderr.split()), run.stdout


def _eager_group() -> click.Group:
    group = click.Group(name="esimflow", help=main.help)
    for _, module, attribute, _ in FAMILIES:
        group.add_command(getattr(importlib.import_module(module), attribute))
    return group


@pytest.mark.parametrize("arguments", [["--help"], ["ac", "parse", "LPA:1$smdp.example.com$MATCH-1"]])
def test_a_light_command_imports_neither_engine_nor_lab(arguments):
    modules, _ = _modules_after(*arguments)
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []


def test_help_lists_every_command_with_its_own_short_help():
    lazy = CliRunner().invoke(main, ["--help"])
    eager = CliRunner().invoke(_eager_group(), ["--help"])
    assert lazy.exit_code == 0
    commands = lazy.output.split("Commands:")[1]
    assert commands == eager.output.split("Commands:")[1]
    for name, module, attribute, _ in FAMILIES:
        assert getattr(importlib.import_module(module), attribute).name == name
        assert f"  {name} " in commands


@pytest.mark.parametrize("name", [name for name, *_ in FAMILIES])
def test_each_command_shows_its_help(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: main {name}" in result.output or f"Usage: esimflow {name}" in result.output


def test_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output


def test_ac_parse_runs_in_a_fresh_process():
    _, output = _modules_after("ac", "parse", "LPA:1$smdp.example.com$MATCH-1")
    assert json.loads(output)["smdp_address"] == "smdp.example.com"

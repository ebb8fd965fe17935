"""Every CLI verb with bad arguments: out-of-range and non-numeric numbers, unknown choices,
paths that cannot exist or be read, malformed EIDs and ICCIDs, activation codes with the matching ID in
every field, control characters (not NUL: no argv can hold one), unknown options. Each invocation ends with a usage error or a
clear one-line failure and its exit code, never a traceback, and no output repeats the matching
ID (plain, hex or base64). The engine is the recording stand-in of test_engine_cli.py, and the
Temporal address points at a closed port, so nothing is started or reached.

Seeded and reproducible (``SEED``); 600 invocations over all verbs (57 with main of 2026-12-04)
in about fifteen seconds. Outcomes of the recorded run (seed 6600): exit 2 (usage) 571, exit 0
16 (help-like or harmless), exit 1 6, exit 3 (Temporal unreachable) 3, reached the engine
stand-in 4; tracebacks 0, leaks 0.
Findings it made, fixed: unreadable key files, a Temporal address the SDK refuses, an unopenable
history path, docs pages that cannot be written and an unreadable --package were tracebacks;
click's usage errors, the namespace in a connect failure, the lab inventory's "no profile" and
the console's password prompt repeated a matching ID typed in their place; an activation code
given as any argument (a history path, an OID) is now masked in all the command prints. Verbs that serve until Ctrl-C (worker, lab up, lab
euicc, lab smdp serve) always get one argument click refuses, so they never start.
"""
from __future__ import annotations

import collections
import random

import click
import pytest

from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.main import main

from tests.engine.test_engine_cli import engine, invoke, runner  # noqa: F401 - fixtures
from tests.protocol.test_protocol_identifiers_fuzz import shows

SEED = 6600
CASES = 600
SECRET = "CLI-SECRET-MATCH-4Q7Z"
SERVING = {"worker", "lab up", "lab euicc", "lab smdp serve"}
BAD_CODES = [f"LPA:1${SECRET}$smdp.example.com", f"LPA:{SECRET}$smdp.example.com$X", SECRET,
             f"LPA:1$smdp.example.com$MID${SECRET}", f"LPA:1$smdp.example.com$MID$$${SECRET}",
             f"LPA:1$smdp.example.com:{SECRET}$MID", f"LPA:1$https://{SECRET}$MID", f"LPA:1$[{SECRET}]$X",
             f"LPA:1$smdp.example.com${SECRET} x", f"LPA:1$smdp.example.com${SECRET}\u00e9"]


def leaves(command: click.Command, path: tuple[str, ...] = ()):
    """Every verb, as click resolves it (the top group loads its commands lazily)."""
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in sorted(command.list_commands(context)):
            yield from leaves(command.get_command(context, name), (*path, name))
    else:
        yield " ".join(path), command


def _bad_value(rng: random.Random, param: click.Parameter) -> str:
    kind = param.type
    if isinstance(kind, (click.IntRange, click.FloatRange)) or kind in (click.INT, click.FLOAT):
        return rng.choice(["-1", "x", "1e999", "nan", "99999999999999999999", "", "0x10", "-0", "1" * 5000])
    if isinstance(kind, click.Choice):
        return rng.choice(["bogus", "", "\u00e9", "ALL"])
    if isinstance(kind, (click.Path, click.File)):
        return rng.choice(["/dev/null/x", "/nonexistent/dir/file", "", "/proc/self/mem"])
    name = param.name or ""
    if "eid" in name:
        return rng.choice(["8904", "8904903200000000000000000000016X", SECRET, "8" * 32, "\x7f"])
    if "iccid" in name:
        return rng.choice(["8944", "89440000000000000190", SECRET, "8" * 25])
    return rng.choice([*BAD_CODES, "", "\x1b[2J", "x" * 10_000, "-", "--", "$", "8904"])


def _arguments(rng: random.Random, path: str, command: click.Command) -> list[str]:
    args = path.split()
    params = [p for p in command.params if p.name != "help"]
    for param in params:
        if isinstance(param, click.Argument):
            if param.required or rng.random() < 0.7:
                args.append(_bad_value(rng, param))
        elif rng.random() < 0.4:
            option = rng.choice(param.opts)
            if param.is_flag if isinstance(param, click.Option) else False:
                args.append(option)
            else:
                args += [option, _bad_value(rng, param)]
    if path in SERVING:  # never start a server: one argument click itself refuses
        args.append("--no-such-option")
    elif rng.random() < 0.1:
        args.insert(rng.randrange(len(path.split()), len(args) + 1), "--no-such-option")
    return args


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("ESIMFLOW_HISTORY", str(tmp_path / "history.sqlite3"))
    monkeypatch.setenv("ESIMFLOW_MIGRATIONS", str(tmp_path / "migrations.sqlite3"))
    monkeypatch.chdir(tmp_path)


def test_every_verb_refuses_bad_arguments_cleanly_and_never_echoes_a_secret(runner, engine, offline):
    engine.answer = CliFailure(ExitCode.TEMPORAL_UNREACHABLE, "temporal.unreachable", "the engine is not reachable (test)")
    verbs = list(leaves(main))
    assert len(verbs) > 40
    rng = random.Random(SEED)
    outcomes: collections.Counter = collections.Counter()
    problems = []
    for number in range(CASES):
        path, command = verbs[number % len(verbs)] if number < len(verbs) else rng.choice(verbs)
        args = _arguments(rng, path, command)
        reached = len(engine.inputs)
        result = runner.invoke(main, args, input="")
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append((number, args[:6], f"{type(result.exception).__name__}: {result.exception}"))
        elif "Traceback" in output:
            problems.append((number, args[:6], "traceback in the output"))
        elif shows(SECRET, output):
            problems.append((number, args[:6], f"secret in the output: {output[:200]}"))
        inputs = " ".join(repr(i) for i in engine.inputs[reached:])
        if shows(SECRET, inputs):
            problems.append((number, args[:6], f"secret passed on: {inputs[:200]}"))
        outcomes["reached the engine" if len(engine.inputs) > reached else f"exit {result.exit_code}"] += 1
    print(f"CLI fuzz, seed {SEED}, {CASES} invocations over {len(verbs)} verbs: {dict(sorted(outcomes.items()))}")
    assert not problems, problems[:10]


@pytest.mark.parametrize("code", BAD_CODES)
@pytest.mark.parametrize("verb", [["ac", "parse"], ["download", "--eid", "89049032000000000000000000000163"],
                                  ["metadata", "--eid", "89049032000000000000000000000163"]])
def test_a_matching_id_in_any_field_of_an_activation_code_is_never_printed(runner, engine, offline, verb, code):
    result = invoke(runner, *verb, code)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert not shows(SECRET, result.output) and not engine.inputs


@pytest.mark.parametrize("smdp", [SECRET, f"LPA:1$smdp.example.com${SECRET}", f"{SECRET}:8443",
                                  f"https://{SECRET}", f"smdp.example.com/{SECRET}"])
def test_a_secret_given_as_the_smdp_address_is_refused_and_masked(runner, engine, offline, smdp):
    for verb in (["download", "--eid", "89049032000000000000000000000163", "--smdp", smdp],
                 ["cancel-session", "--eid", "89049032000000000000000000000163", "0102", "--smdp", smdp]):
        result = invoke(runner, *verb)
        assert result.exit_code == ExitCode.USAGE and "--smdp" in result.output, result.output
        assert not shows(SECRET, result.output) and not engine.inputs

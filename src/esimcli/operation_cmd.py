"""What every operation verb shares: the device and output options, the Temporal connection,
running the operation through the engine, and turning the outcome into output and an exit code.

A verb is a function from its own options to an ``esimflow.contract`` input::

    @operation_command("switch")
    @click.argument("iccid", callback=params.iccid_param)
    def switch(call, iccid):
        return api.SwitchProfileInput(eid=call.require_eid(), iccid=iccid)
"""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from sgp22.errors import BadInputError, EsimError

from esimcli import envelope, params
from esimcli.connection import CONNECTION_PARAMETERS, ConnectionFlags, temporal_options
from esimcli.driver import OperationDriver
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.progress import ProgressDisplay
from esimcli.questions import Responder
from esimcli.reporting import Reporter
from esimcli.secrets import Redactor

ENV_EID = "ESIMFLOW_EID"
_SHARED_RANK = {"eid": 1, "as_json": 2, "quiet": 2, "timeout": 2, **{name: 3 for name in CONNECTION_PARAMETERS}}


@dataclass
class Call:
    """One invocation: the eUICC it is for and the secrets it must keep out of its output."""

    eid: str | None
    redactor: Redactor = field(default_factory=Redactor)

    def require_eid(self) -> str:
        if not self.eid:
            raise CliFailure(ExitCode.USAGE, "input.invalid",
                             f"no eUICC given: pass --eid or set {ENV_EID}")
        return self.eid


class OperationCommand(click.Command):
    """With ``--json``, even a usage error is reported as the JSON object scripts parse."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        wants_json = "--json" in args
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            if not wants_json:
                raise
            raise JsonUsageError(_operation_label(ctx), error.format_message()) from None


class JsonUsageError(click.ClickException):
    exit_code = int(ExitCode.USAGE)

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(message)
        self.operation = operation

    def show(self, file=None) -> None:
        failure = CliFailure(ExitCode.USAGE, "input.invalid", self.message)
        click.echo(json.dumps(envelope.from_failure(self.operation, None, failure), indent=2))


def operation_command(name: str, *, watch: bool = False, timeout: float = 120.0, eid_option: bool = True
                      ) -> Callable[[Callable[..., Any]], click.Command]:
    """``watch``: show progress and answer questions (long operations: downloads, resets).
    ``timeout``: default seconds to wait for the result before exit code 4."""

    def decorate(build: Callable[..., Any]) -> click.Command:
        @functools.wraps(build)
        def callback(as_json: bool, timeout: float, quiet: bool, connection: ConnectionFlags,
                     eid: str | None = None, **options: Any) -> None:
            ctx = click.get_current_context()
            operation = _operation_label(ctx)
            call = Call(eid=eid)
            call.redactor.add(connection.api_key)
            reporter = Reporter(operation, as_json=as_json, redactor=call.redactor)
            try:
                op_input = build(call, **options)
                responder = Responder(interactive=stdin_is_terminal(), redactor=call.redactor)
                display = ProgressDisplay(sys.stderr, is_tty=sys.stderr.isatty(), redact=call.redactor,
                                          label=operation, enabled=watch and not quiet)
                driver = OperationDriver(connection, display=display, responder=responder, timeout=timeout)
                result = driver.run(op_input)
                code = reporter.result(result, hint=responder.hint)
            except CliFailure as failure:
                code = reporter.failure(failure, call.eid)
            except EsimError as error:  # typed errors carry messages safe to show
                exit_code = ExitCode.USAGE if isinstance(error, BadInputError) else ExitCode.ENGINE_FAILURE
                code = reporter.failure(CliFailure(exit_code, error.kind, error.message,
                                                   retryable=error.retryable), call.eid)
            ctx.exit(int(code))

        command = callback
        if eid_option:
            command = click.option(
                "--eid", envvar=ENV_EID, show_envvar=True, callback=params.eid_param,
                help="EID of the eUICC to act on (32 digits).",
            )(command)
        command = temporal_options(command)
        command = click.option("--quiet", "-q", is_flag=True, help="No progress display.")(command)
        command = click.option("--timeout", type=click.FloatRange(min=1), default=timeout, show_default=True,
                               help="Seconds to wait for the result (exit code 4 after).")(command)
        command = click.option("--json", "as_json", is_flag=True,
                               help="Print one JSON object (schema in docs/cli.md).")(command)
        command = click.command(name, cls=OperationCommand, help=build.__doc__)(command)
        # --help lists the verb's own parameters first, the shared ones after, connection last.
        command.params.sort(key=lambda param: _SHARED_RANK.get(param.name, 0))
        return command

    return decorate


def _operation_label(ctx: click.Context) -> str:
    """The command path without the program name: ``download``, ``smdp get``."""
    return ctx.command_path.removeprefix(ctx.find_root().info_name or "").strip()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()

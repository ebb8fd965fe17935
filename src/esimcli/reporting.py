"""Printing how a command ended: one JSON object on stdout with ``--json``; otherwise the
answer on stdout and, when it failed, the reason and both result codes on stderr. Everything
passes through the invocation's redactor on its way out."""
from __future__ import annotations

import json

import click

from esimflow.contract import OperationResult

from esimcli import envelope, render
from esimcli.exit_codes import ExitCode
from esimcli.failures import CliFailure
from esimcli.secrets import Redactor


class Reporter:
    def __init__(self, operation: str, *, as_json: bool, redactor: Redactor) -> None:
        self.operation = operation
        self.as_json = as_json
        self._redact = redactor

    def result(self, result: OperationResult, *, hint: str | None = None) -> ExitCode:
        if self.as_json:
            self._json(envelope.from_result(self.operation, result))
        elif result.ok:
            headline = [result.message] if result.message and result.message != "ok" else []
            self._lines(headline + render.result_lines(result), err=False)
        else:
            self._lines([f"error: {result.message or result.error_kind}", *render.status_lines(result),
                         *render.result_lines(result)], err=True)
        if hint and not result.ok:
            self._lines([f"hint: {hint}"], err=True)
        return ExitCode.OK if result.ok else ExitCode.OPERATION_FAILED

    def failure(self, failure: CliFailure, eid: str | None) -> ExitCode:
        if self.as_json:
            self._json(envelope.from_failure(self.operation, eid, failure))
        else:
            lines = [f"error: {failure.message}"]
            if failure.workflow_id:
                lines.append(f"workflow: {failure.workflow_id}")
            self._lines(lines, err=True)
        return failure.exit_code

    def _json(self, document: dict) -> None:
        click.echo(self._redact(json.dumps(document, indent=2, ensure_ascii=False)))

    def _lines(self, lines: list[str], *, err: bool) -> None:
        for line in lines:
            click.echo(self._redact(line), err=err)

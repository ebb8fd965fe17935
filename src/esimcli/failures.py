"""The one way a command stops early: a failure that knows its exit code and how to say it."""
from __future__ import annotations

from esimcli.exit_codes import ExitCode


class CliFailure(Exception):
    """Raised anywhere below a command; the command's runner prints it (human or JSON) and exits
    with ``exit_code``. ``kind`` follows the engine's error kinds (``input.invalid``, ...)."""

    def __init__(self, exit_code: ExitCode, kind: str, message: str, *, retryable: bool = False,
                 workflow_id: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.workflow_id = workflow_id


def bad_input(message: str) -> CliFailure:
    return CliFailure(ExitCode.USAGE, "input.invalid", message)

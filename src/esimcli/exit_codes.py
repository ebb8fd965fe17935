"""Exit codes of every ``esimflow`` operation command, one meaning each, so scripts can branch
on them without parsing output (documented in docs/cli.md)."""
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    # The operation ran and ended with a result code other than RESULT_OK.
    OPERATION_FAILED = 1
    # Bad usage or input (unknown option, malformed EID, activation code or ICCID): nothing ran.
    USAGE = 2
    # Temporal could not be reached or refused us (address, TLS, API key, namespace).
    TEMPORAL_UNREACHABLE = 3
    # No result within --timeout; the operation is durable and may still finish (no worker yet?).
    TIMED_OUT = 4
    # The engine ended the operation without a result code (workflow failed, terminated, cancelled).
    ENGINE_FAILURE = 5
    # Interrupted with Ctrl-C while waiting; the operation itself keeps running in Temporal.
    INTERRUPTED = 130

"""The ES9+/ES11 JSON envelope: request fields in, function execution status out. Which
functions and fields there are, and how each travels, is the binding table `sgp22.es9_functions`
(the client's too).

Every function answers HTTP 200 with ``header.functionExecutionStatus``; a refusal is
``status: Failed`` with SGP.22 subject and reason codes and no payload. Binary fields travel
as standard base64 of complete DER TLVs, transaction IDs as hex. Request fields that are
missing or do not decode are refused with the generic codes of SGP.22 (subject 1.1 "function
requester", reason 2.2 "mandatory element missing" or 2.1 "invalid").
"""
from __future__ import annotations

import base64
import binascii

from sgp22.errors import EsimError

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


class FunctionFailed(EsimError):
    """An ES9+/ES11 function refused; becomes a ``Failed`` header with these codes."""

    kind = "lab.smdp.function_failed"

    def __init__(self, subject_code: str, reason_code: str, message: str, *, end_session: bool = True) -> None:
        super().__init__(f"{subject_code}/{reason_code}: {message}")
        self.subject_code = subject_code
        self.reason_code = reason_code
        self.detail = message
        self.end_session = end_session

    def header(self) -> dict:
        return failed_header(self.subject_code, self.reason_code, self.detail)


def success_header() -> dict:
    return {"functionExecutionStatus": {"status": "Executed-Success"}}


def failed_header(subject_code: str, reason_code: str, message: str | None = None) -> dict:
    status = {"subjectCode": subject_code, "reasonCode": reason_code}
    if message:
        status["message"] = message
    return {"functionExecutionStatus": {"status": "Failed", "statusCodeData": status}}


def text_field(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None:
        raise FunctionFailed("1.1", "2.2", f"{name} is missing")
    if not isinstance(value, str):
        raise FunctionFailed("1.1", "2.1", f"{name} must be a string")
    return value


def binary_field(body: dict, name: str) -> bytes:
    """A base64 field; whitespace inside is tolerated (some LPAs wrap long lines)."""
    value = text_field(body, name)
    try:
        decoded = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FunctionFailed("1.1", "2.1", f"{name} is not base64") from None
    if not decoded:
        raise FunctionFailed("1.1", "2.1", f"{name} is empty")
    return decoded


def transaction_id_field(body: dict) -> bytes:
    """The hex transactionId; one that cannot be a TransactionId is simply unknown."""
    value = text_field(body, "transactionId")
    try:
        decoded = bytes.fromhex(value)
    except ValueError:
        raise FunctionFailed("8.10.1", "3.9", "transactionId is unknown") from None
    if not 1 <= len(decoded) <= 16:
        raise FunctionFailed("8.10.1", "3.9", "transactionId is unknown")
    return decoded

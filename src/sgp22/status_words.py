"""ISO 7816-4 status words: a card's answer split into data and SW1 SW2, which words mean
success, and the typed error (with its meaning, retryability and outcome codes) every other word
becomes: a table of its own, apart from the APDU framing (``sgp22.apdu``) that reads it, as do the
OS update commands (``sgp22.osu``)."""
from __future__ import annotations

from dataclasses import dataclass

from sgp22.errors import StatusWordError, TransportError
from sgp22.results import OhResultCode, WinStatus

SW_WRONG_LENGTH = 0x6700


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return is_success(self.sw)


def split_response(raw: bytes) -> Response:
    if not isinstance(raw, (bytes, bytearray)):
        raise TransportError(f"card answered with {type(raw).__name__}, not bytes", kind="card.bad_response")
    if len(raw) < 2:
        raise TransportError(
            f"card answer of {len(raw)} byte(s) has no status word", kind="card.truncated_response"
        )
    return Response(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


def is_success(sw: int) -> bool:
    """90xx, and 91xx/92xx (done, with a proactive command pending or after internal retries)."""
    return sw >> 8 in (0x90, 0x91, 0x92)


class StatusNotFoundError(StatusWordError):
    kind = "card.sw.not_found"
    win_status = WinStatus.NotFound


class StatusConditionsNotSatisfiedError(StatusWordError):
    kind = "card.sw.conditions_not_satisfied"


class StatusNotSupportedError(StatusWordError):
    kind = "card.sw.not_supported"


class StatusMemoryError(StatusWordError):
    kind = "card.sw.memory"
    oh_result = OhResultCode.RESULT_OUT_OF_MEMORY
    win_status = WinStatus.InsufficientSpaceOnCard


class StatusCardBusyError(StatusWordError):
    kind = "card.sw.busy"
    retryable = True
    oh_result = OhResultCode.RESULT_CAT_BUSY
    win_status = WinStatus.CardBusy


class StatusTechnicalError(StatusWordError):
    """The card failed without saying why (6F00, 64xx): a fresh attempt often succeeds."""

    kind = "card.sw.technical"
    retryable = True


class StatusWrongParametersError(StatusWordError):
    """The card refused the command's shape (length, P1/P2, data): a bug on one side."""

    kind = "card.sw.wrong_parameters"


# Exact status words first, then by SW1; each entry (error class, meaning).
_EXACT_SW: dict[int, tuple[type[StatusWordError], str]] = {
    0x6A82: (StatusNotFoundError, "file or application not found"),
    0x6A88: (StatusNotFoundError, "referenced data not found"),
    0x6985: (StatusConditionsNotSatisfiedError, "conditions of use not satisfied"),
    0x6982: (StatusConditionsNotSatisfiedError, "security status not satisfied"),
    0x6986: (StatusConditionsNotSatisfiedError, "command not allowed"),
    0x6D00: (StatusNotSupportedError, "instruction not supported"),
    0x6E00: (StatusNotSupportedError, "class not supported"),
    0x6A81: (StatusNotSupportedError, "function not supported"),
    0x6881: (StatusNotSupportedError, "logical channel not supported"),
    0x6882: (StatusNotSupportedError, "secure messaging not supported"),
    0x6A84: (StatusMemoryError, "not enough memory space"),
    0x6581: (StatusMemoryError, "memory failure"),
    0x6F00: (StatusTechnicalError, "no precise diagnosis"),
    0x6A80: (StatusWrongParametersError, "incorrect data field"),
    0x6A86: (StatusWrongParametersError, "incorrect P1/P2"),
    0x6700: (StatusWrongParametersError, "wrong length"),
    0x9300: (StatusCardBusyError, "SIM toolkit busy"),
}
_BY_SW1: dict[int, tuple[type[StatusWordError], str]] = {
    0x62: (StatusWordError, "warning, state unchanged"),
    0x63: (StatusWordError, "warning, state changed"),
    0x64: (StatusTechnicalError, "execution error, state unchanged"),
    0x65: (StatusMemoryError, "execution error, state changed"),
    0x66: (StatusWordError, "security-related issue"),
    0x67: (StatusWrongParametersError, "wrong length"),
    0x68: (StatusNotSupportedError, "function in CLA not supported"),
    0x69: (StatusConditionsNotSatisfiedError, "command not allowed"),
    0x6A: (StatusWrongParametersError, "wrong parameters"),
    0x6B: (StatusWrongParametersError, "wrong P1/P2"),
    0x6D: (StatusNotSupportedError, "instruction not supported"),
    0x6E: (StatusNotSupportedError, "class not supported"),
    0x6F: (StatusTechnicalError, "no precise diagnosis"),
    0x93: (StatusCardBusyError, "SIM toolkit busy"),
}


def status_word_error(sw: int, command: str, hint: str = "") -> StatusWordError:
    error_class, meaning = _EXACT_SW.get(sw) or _BY_SW1.get(sw >> 8) or (StatusWordError, "unexpected status word")
    return error_class(f"{command}: card answered {sw:04X} ({meaning}){hint}", sw=sw)


def check_status(response: Response, command: str) -> Response:
    if not response.ok:
        raise status_word_error(response.sw, command)
    return response

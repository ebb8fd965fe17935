"""The taxonomy read backwards: for every value of both outcome enumerations (OpenHarmony
``ResultCode``, Windows ``ESimOperationStatus``), the failures that produce it or the reason none
can, and ``docs/outcomes.md`` rendered from it (``python -m sgp22.outcomes > docs/outcomes.md``).

Apart from ``sgp22.taxonomy`` because the library needs the tables on every failure, and this
inverse only for the documentation and its tests.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sgp22 import errors as e
from sgp22.results import OhResultCode as Oh
from sgp22.results import WinStatus as Win
from sgp22.taxonomy import (
    UNKNOWN_ES10_RESULT,
    ES9_CODES,
    ES9_FUNCTION_CODES,
    ES9_REASON_FAMILIES,
    ES10_RESULTS,
    Mapping,
    es9_error,
    es10_error,
    family_label,
)


@dataclass(frozen=True)
class Producer:
    """One failure that ends with a given outcome; ``make`` builds an instance of it."""

    source: str
    trigger: str
    error: type[e.EsimError]
    retryable: bool
    make: Callable[[], e.EsimError] = field(compare=False, repr=False)


@dataclass(frozen=True)
class EnumOutcome:
    enum: str
    name: str
    value: int
    producers: tuple[Producer, ...]
    reason: str | None


# Failures raised directly by the library, the lab or the engine (not through a table).
DIRECT_FAILURES: list[tuple[str, str, Callable[[], e.EsimError]]] = [
    ("input", "malformed EID, ICCID, option or configuration", lambda: e.BadInputError("bad input")),
    ("input", "malformed activation code", lambda: e.ActivationCodeInvalidError("bad activation code")),
    ("input", "SM-DP+ address that is not host[:port]", lambda: e.SmdpAddressInvalidError("bad address")),
    ("card", "truncated or garbled DER/TLV from a card or server", lambda: e.MalformedDataError("garbled")),
    ("card", "reader or card I/O failure", lambda: e.TransportError("I/O failure")),
    ("card", "card removed from the reader", lambda: e.CardRemovedError("removed")),
    ("card", "card did not answer in time", lambda: e.CardTimeoutError("timeout")),
    ("card", "the driver refused to carry a command (a modem's ERROR, +CME ERROR: 50)",
     lambda: e.CommandRefusedError("refused")),
    ("card", "error status word (e.g. 6F00)", lambda: e.StatusWordError("6F00", sw=0x6F00)),
    ("card", "GetEID answered without a valid EID", lambda: e.EidUnavailableError("no EID")),
    ("network", "SM-DP+ not reachable (refused, reset)", lambda: e.ServerUnreachableError("unreachable")),
    ("network", "SM-DP+ host name does not resolve", lambda: e.ServerAddressUnresolvableError("no such host")),
    ("network", "SM-DP+ did not answer in time", lambda: e.ServerTimeoutError("timeout")),
    ("network", "HTTP 5xx or 429 from the SM-DP+", lambda: e.HttpStatusError("503", status_code=503)),
    ("network", "other HTTP status ES9+ does not allow", lambda: e.HttpStatusError("404", status_code=404)),
    ("network", "TLS handshake or server certificate verification failed", lambda: e.TlsError("TLS")),
    ("network", "answer that is not ES9+ JSON of the right shape", lambda: e.ServerResponseError("shape")),
    ("network", "serverSigned1 names another SM-DP+ address", lambda: e.ServerAddressMismatchError("address")),
    ("crypto", "a signature does not verify", lambda: e.InvalidSignatureError("signature")),
    ("crypto", "certificate chain: bad format", lambda: e.CertificateFormatError("format")),
    ("crypto", "certificate chain: expired", lambda: e.CertificateExpiredError("expired")),
    ("crypto", "certificate chain: not yet valid", lambda: e.CertificateNotYetValidError("not yet valid")),
    ("crypto", "certificate chain: not issued by its issuer", lambda: e.CertificateSignatureError("issuer")),
    ("crypto", "certificate chain: wrong role", lambda: e.CertificateRoleError("role")),
    ("crypto", "certificate chain: unknown CI", lambda: e.UnknownCiError("CI")),
    ("crypto", "certificate: key on an unsupported curve", lambda: e.UnsupportedCurveError("curve")),
    ("crypto", "eUICC certificate EID outside its EUM's range", lambda: e.EidOutsideEumRangeError("EID range")),
    ("crypto", "SCP03t segment fails its MAC", lambda: e.Scp03tSecurityError("MAC")),
    ("crypto", "SCP03t segment malformed (tag, length, padding)", lambda: e.Scp03tStructureError("structure")),
    ("engine", "capability esimflow does not implement", lambda: e.NotSupportedError("not supported")),
    ("engine", "user cancelled the operation", lambda: e.UserCancelledError("cancelled")),
    ("engine", "no user consent before the consent timeout", lambda: e.ConsentTimeoutError("consent timeout")),
    ("engine", "switch needs the enabled profile disabled and forceDisable is off",
     lambda: e.MustDisableProfileError("must disable")),
    ("engine", "delete of the enabled profile (switch to another one first)",
     lambda: e.MustDisableProfileError("must disable")),
    ("engine", "download attempts exhausted", lambda: e.DownloadRetriesExceededError("retries")),
]

NO_PRODUCER_REASONS: dict[tuple[str, str], str] = {
    ("OhResultCode", "RESULT_OK"): "Success path: every operation that completes ends with it.",
    ("WinStatus", "Success"): "Success path: every operation that completes ends with it.",
    ("OhResultCode", "RESULT_ACTIVATION_CODE_CHANGED"): (
        "OpenHarmony reports it when the user edited the activation code in its own confirmation UI; "
        "esimflow takes the activation code as given and has no such step."),
    ("OhResultCode", "RESULT_CERTIFICATE_IO_ERROR"): (
        "Network failure while fetching a certificate or CRL; ES9+ carries every certificate inline and "
        "esimflow fetches none."),
    ("OhResultCode", "RESULT_CERTIFICATE_RESPONSE_TIMEOUT"): (
        "Timeout or bad address while fetching a certificate; esimflow fetches no certificates (see above)."),
}


def _row(source: str, trigger: str, mapping: Mapping[e.EsimError], make: Callable[[], e.EsimError]
         ) -> tuple[Oh, Win, Producer]:
    return mapping.oh, mapping.win, Producer(source, trigger, mapping.error, mapping.retryable, make)


def _family_example(prefix: str) -> str:
    return prefix + "9" if prefix.endswith(".") else prefix or "9.9"


def _producers() -> list[tuple[Oh, Win, Producer]]:
    found = [_row("ES10", f"{function} {name}({code})", mapping, partial(es10_error, function, name, code))
             for function, results in ES10_RESULTS.items() for code, (name, mapping) in results.items()]
    found.append(_row("ES10", "any function: result code outside its enumeration", UNKNOWN_ES10_RESULT,
                      partial(es10_error, "enableProfile", "unknown(99)", 99)))
    found += [_row("ES9+", f"{subject}/{reason}", mapping, partial(es9_error, "initiateAuthentication", subject, reason))
              for (subject, reason), mapping in ES9_CODES.items()]
    found += [_row("ES9+", f"{function} {subject}/{reason}", mapping, partial(es9_error, function, subject, reason))
              for (function, subject, reason), mapping in ES9_FUNCTION_CODES.items()]
    found += [_row("ES9+", family_label(prefix), mapping,
                   partial(es9_error, "initiateAuthentication", "8.99", _family_example(prefix)))
              for prefix, mapping in ES9_REASON_FAMILIES]
    for source, trigger, make in DIRECT_FAILURES:
        sample = make()
        found.append((sample.oh_result, sample.win_status,
                      Producer(source, trigger, type(sample), sample.retryable, make)))
    return found


def describe_outcomes() -> list[EnumOutcome]:
    """Every OpenHarmony ResultCode and Windows ESimOperationStatus, with what produces it."""
    producers = _producers()
    rows = [EnumOutcome("OhResultCode", value.name, int(value), tuple(p for oh, _, p in producers if oh is value),
                        NO_PRODUCER_REASONS.get(("OhResultCode", value.name))) for value in Oh]
    rows += [EnumOutcome("WinStatus", value.name, int(value), tuple(p for _, win, p in producers if win is value),
                         NO_PRODUCER_REASONS.get(("WinStatus", value.name))) for value in Win]
    return rows


# --- docs/outcomes.md ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table_row(function: str, code: str, m: Mapping[e.EsimError]) -> str:
    return (f"| {function} | {code} | `{m.error.__name__}` | {'yes' if m.retryable else 'no'} | "
            f"{m.oh.name} | {m.win.name} | {_cell(m.meaning)} |")


def render_markdown() -> str:
    lines = [
        "# Outcomes: every failure and the result codes it surfaces as",
        "",
        "Generated by `python -m sgp22.outcomes > docs/outcomes.md` from the tables in `src/sgp22/taxonomy.py`;",
        "a test fails when this file and the tables disagree.",
        "",
        "Each esimflow error carries a stable `kind`, whether retrying can help, the OpenHarmony",
        "`ResultCode` and the Windows `ESimOperationStatus`.",
    ]
    for enum_name, title in (("OhResultCode", "OpenHarmony ResultCode"), ("WinStatus", "Windows ESimOperationStatus")):
        lines += ["", f"## {title}: what produces each value", "", "| value | produced by |", "| --- | --- |"]
        for row in (r for r in describe_outcomes() if r.enum == enum_name):
            if row.producers:
                cause = "<br>".join(f"{p.source}: {_cell(p.trigger)} (`{p.error.__name__}`)" for p in row.producers)
            else:
                cause = f"*none*: {_cell(row.reason or '')}"
            lines.append(f"| `{row.name}` ({row.value}) | {cause} |")
    lines += ["", "## ES10 results", "", "| function | result | error | retryable | OpenHarmony | Windows | meaning |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [_table_row(function, f"{name} ({code})", m)
              for function, results in ES10_RESULTS.items() for code, (name, m) in results.items()]
    lines += ["", "## ES9+ subject / reason codes", "",
              "| function | subject/reason | error | retryable | OpenHarmony | Windows | meaning |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [_table_row("any", f"{subject}/{reason}", m) for (subject, reason), m in ES9_CODES.items()]
    lines += [_table_row(function, f"{subject}/{reason}", m)
              for (function, subject, reason), m in ES9_FUNCTION_CODES.items()]
    lines += [_table_row("any", family_label(prefix), m) for prefix, m in ES9_REASON_FAMILIES]
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render_markdown())


if __name__ == "__main__":
    main()

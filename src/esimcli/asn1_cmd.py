"""``esimflow asn1``: look inside any SGP.22 DER message (APDU trace, ES9+ blob, stored PIR)
or a SAIP profile package (a TS.48 ``.der`` file, what an SM-DP+ binds).

Output is JSON a person can read: bytes as upper-case hex, BIT STRINGs as the names of the bits
set, named INTEGERs as their names, CHOICEs as ``{alternative: value}``. Matching IDs are masked
unless ``--reveal-secrets`` is given, so pasting the output into a ticket leaks nothing; so are
the profile elements esimflow does not interpret (PINs, PUKs, network keys, security domain
keys): their PEHeader and size are shown, their bytes only with ``--reveal-secrets``.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import sys
from typing import Any

import click

from esimcli.exit_codes import ExitCode
from esimcli.secrets import echo_in_clear
from sgp22 import codec, profile_package, tlv
from sgp22.errors import BadInputError, EsimError, MalformedDataError
from sgp22.secret_text import mask_secret

_SECRET_FIELDS = frozenset({"matchingId"})
_ANONYMOUS_BITS = "bit"
PACKAGE_TYPE = "ProfilePackage"
"""``--type`` of a SAIP profile package: a sequence of ProfileElements, not one DER value."""


@click.group()
def asn1() -> None:
    """Decode SGP.22 DER messages (exit code 2 on input that does not decode)."""


@asn1.command("decode")
@click.argument("data", metavar="HEX|-", required=False)
@click.option("--file", "data_file", type=click.File("rb"), help="Read the DER bytes from this file instead.")
@click.option("--type", "type_name", metavar="NAME",
              help=f"Decode as this type instead of guessing from the tag ({PACKAGE_TYPE}: a SAIP profile package).")
@click.option("--base64", "is_base64", is_flag=True, help="DATA is base64 (as in ES9+ JSON bodies), not hex.")
@click.option("--reveal-secrets", is_flag=True, help="Show matching IDs and opaque profile elements in clear.")
def decode(data: str | None, data_file, type_name: str | None, is_base64: bool, reveal_secrets: bool) -> None:
    """Print an SGP.22 DER message or a profile package as JSON; DATA is hex (whitespace allowed)
    or - for stdin, or --file gives a binary file (e.g. a TS.48 profile package).

    Exit codes: 0 decoded; 2 the input is not hex/base64, the type is unknown, or the bytes do not
    decode (one line on stderr says why)."""
    try:
        if data is not None and data_file is not None:
            raise BadInputError("give DATA or --file, not both")
        if data is None and data_file is None:
            raise BadInputError("no input: give hex digits, - to read them from stdin, or --file")
        der = data_file.read() if data_file else _read_bytes(sys.stdin.read() if data == "-" else data, is_base64)
        if type_name == PACKAGE_TYPE or (type_name is None and _is_package(der)):
            document = package_document(der, reveal_secrets=reveal_secrets)
        else:
            if type_name:
                value = codec.decode(type_name, der)
            else:
                type_name, value = codec.decode_any(der)
            document = {"type": type_name, "value": readable(type_name, value, reveal_secrets=reveal_secrets)}
    except EsimError as error:
        _fail(error.message)
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if reveal_secrets:
        echo_in_clear(text)
    else:
        click.echo(text)


def _is_package(der: bytes) -> bool:
    """A ProfileHeader followed by more elements: one SGP.22 message is a single TLV."""
    if not der or der[0] != 0xA0:
        return False
    try:
        _, end = tlv.read_tlv(der)
    except MalformedDataError:
        return False
    return end < len(der)


def package_document(der: bytes, *, reveal_secrets: bool = False) -> dict:
    """The package's header facts and each element: kind, offset, length and decoded value."""
    package = profile_package.parse_upp(der)
    renderer = _Renderer(profile_package.type_descriptors(), reveal_secrets)
    elements, offset = [], 0
    for element in package.elements:
        entry = {"kind": element.kind, "offset": offset, "length": len(element.der)}
        if element.value is not None:
            entry["value"] = renderer.render({"type": "ProfileElement"}, (element.kind, element.value))[element.kind]
        if element.kind not in profile_package.INTERPRETED_KINDS:
            entry["content"] = element.der.hex().upper() if reveal_secrets else "opaque (--reveal-secrets shows it)"
        elements.append(entry)
        offset += len(element.der)
    return {"type": PACKAGE_TYPE, "iccid": package.iccid, "efIccid": package.ef_iccid,
            "version": f"{package.major_version}.{package.minor_version}", "profileType": package.profile_type,
            "services": list(package.services), "size": package.size, "elements": elements}


@asn1.command("types")
def types() -> None:
    """List the type names ``decode --type`` accepts."""
    for name in codec.type_names():
        click.echo(name)


def _read_bytes(text: str, is_base64: bool) -> bytes:
    compact = re.sub(r"\s+", "", text)
    if not compact:
        raise BadInputError("no input: give hex digits or - to read them from stdin")
    if is_base64:
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as error:  # ValueError: characters outside ASCII
            raise BadInputError(f"not base64: {error}") from None
    if compact[:2].lower() == "0x":
        compact = compact[2:]
    bad = re.search(r"[^0-9A-Fa-f]", compact)
    if bad:
        raise BadInputError(f"not hexadecimal: {bad.group(0)!r} at position {bad.start() + 1}")
    if len(compact) % 2:
        raise BadInputError(f"odd number of hex digits ({len(compact)})")
    return bytes.fromhex(compact)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(ExitCode.USAGE)


# --- readable JSON from a decoded value and the module's parse tree -----------------------------


def readable(type_name: str, value: Any, *, reveal_secrets: bool = False) -> Any:
    return _Renderer(codec.type_descriptors(), reveal_secrets).render({"type": type_name}, value)


class _Renderer:
    def __init__(self, descriptors: dict[str, dict], reveal_secrets: bool) -> None:
        self.descriptors = descriptors
        self.reveal_secrets = reveal_secrets

    def render(self, descriptor: dict, value: Any, field: str = "") -> Any:
        descriptor = self._resolved(descriptor)
        kind = descriptor["type"]
        if kind in ("SEQUENCE", "SET"):
            members = {member["name"]: member for member in descriptor["members"] if member}
            return {
                name: self.render(members[name], item, name) for name, item in value.items()
            }
        if kind == "CHOICE":
            alternative, item = value
            members = {member["name"]: member for member in descriptor["members"] if member}
            return {alternative: self.render(members[alternative], item, alternative)}
        if kind in ("SEQUENCE OF", "SET OF"):
            return [self.render(descriptor["element"], item) for item in value]
        if kind == "BIT STRING":
            return self._bits(descriptor, value)
        if kind == "INTEGER" and "named-numbers" in descriptor:
            names = {number: name for name, number in descriptor["named-numbers"].items()}
            return names.get(value, value)
        if field in _SECRET_FIELDS and isinstance(value, str) and not self.reveal_secrets:
            return mask_secret(value)
        return _scalar(value)

    def _resolved(self, descriptor: dict) -> dict:
        """Follow type references, keeping named bits/numbers found on the way (a member may
        add them to a referenced plain type)."""
        extras = {key: descriptor[key] for key in ("named-bits", "named-numbers") if key in descriptor}
        while descriptor["type"] in self.descriptors:
            descriptor = self.descriptors[descriptor["type"]]
        return {**descriptor, **extras} if extras else descriptor

    @staticmethod
    def _bits(descriptor: dict, value: tuple[bytes, int]) -> Any:
        data, length = value
        bits = [bool(data[i // 8] & (0x80 >> (i % 8))) for i in range(length)]
        if "named-bits" not in descriptor:
            return "".join("1" if bit else "0" for bit in bits)
        names = {int(number): name for name, number in descriptor["named-bits"]}
        return [names.get(position, f"{_ANONYMOUS_BITS}{position}") for position, bit in enumerate(bits) if bit]


def _scalar(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value

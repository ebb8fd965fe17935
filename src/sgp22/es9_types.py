"""ES9+/ES11 values: the server address an activation code or an event names, and what each
function answers (`sgp22.es9` returns them; signed blobs stay out of their reprs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sgp22.errors import SmdpAddressInvalidError
from sgp22.es10_session_types import ServerAuthentication
from sgp22.activation_code import check_smdp_address
from sgp22.secret_text import mask_secret


@dataclass(frozen=True)
class ServerAddress:
    """An SM-DP+/SM-DS address as activation codes and ES11 events give it: ``host[:port]``."""

    text: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def parse_server_address(address: str) -> ServerAddress:
    """``host[:port]`` as activation codes and ES11 events carry it (IPv6 in brackets)."""
    if not isinstance(address, str):
        raise SmdpAddressInvalidError(f"a server address is text, got {type(address).__name__}")
    check_smdp_address(address)
    parts = urlsplit(f"https://{address}")
    if not parts.hostname:
        raise SmdpAddressInvalidError("a server address names a host")
    return ServerAddress(address, parts.hostname, parts.port or 443)


@dataclass(frozen=True)
class InitiateAuthenticationResult:
    transaction_id: str
    server_signed1: bytes = field(repr=False)
    server_signature1: bytes = field(repr=False)
    euicc_ci_pkid_to_be_used: bytes
    server_certificate: bytes = field(repr=False)

    def server_authentication(self) -> ServerAuthentication:
        return ServerAuthentication(
            self.server_signed1, self.server_signature1, self.euicc_ci_pkid_to_be_used, self.server_certificate
        )


@dataclass(frozen=True)
class AuthenticateClientResult:
    transaction_id: str
    profile_metadata: bytes = field(repr=False)  # StoreMetadataRequest (BF25)
    smdp_signed2: bytes = field(repr=False)
    smdp_signature2: bytes = field(repr=False)
    smdp_certificate: bytes = field(repr=False)


@dataclass(frozen=True)
class BoundProfilePackageResult:
    transaction_id: str
    bound_profile_package: bytes = field(repr=False)


@dataclass(frozen=True)
class EventEntry:
    """An SM-DS event: download ``event_id`` (the matching ID) from ``rsp_server_address``."""

    event_id: str
    rsp_server_address: str

    def __repr__(self) -> str:
        return f"EventEntry(event_id={mask_secret(self.event_id)!r}, rsp_server_address={self.rsp_server_address!r})"


@dataclass(frozen=True)
class Es11AuthenticateClientResult:
    transaction_id: str | None
    events: list[EventEntry]

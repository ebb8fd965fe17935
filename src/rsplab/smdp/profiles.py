"""One lab SM-DP+ profile as the operator gives it and sees it: the records (:class:`NewProfile`
in, :class:`Profile` and :class:`StatusChange` out, secrets kept out of their reprs) and the checks
of everything given (ICCID, EID, matching ID, access rules, profile owner, an operator's package).

Apart from the inventory (``rsplab.smdp.inventory``) because the admin API, the CLI and the
inventory all read what is given the same way; the inventory stores what passes.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from sgp22.errors import BadInputError
from sgp22.es10_enums import ProfileClass
from sgp22.es10_types import AccessRule, OperatorId
from sgp22.identifiers import Eid, Iccid
from sgp22.secret_text import mask_secret
from sgp22.profile_package import ProfilePackageError, parse_upp

from rsplab.smdp.status import ProfileStatus

PROFILE_CLASSES = tuple(str(value.name) for value in ProfileClass if value >= 0)
"""SGP.22's profile classes by name (not OpenHarmony's "unspecified", which no card is sent)."""
DEFAULT_CC_RETRY_LIMIT = 3
MAX_PROFILE_SIZE = 4 * 1024 * 1024
_MATCHING_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_ACCESS_RULES = 32


def mask(secret: str | None) -> str:
    """``AB12…(16)``: enough to tell two secrets apart, not enough to use one."""
    return mask_secret(secret) if secret else "-"


def generate_matching_id() -> str:
    """Four groups of four from an alphabet without look-alike characters (0/O, 1/I)."""
    return "-".join("".join(secrets.choice(_MATCHING_ID_ALPHABET) for _ in range(4)) for _ in range(4))


def check_iccid(iccid: str) -> str:
    return Iccid.parse(str(iccid)).digits


def check_eid(eid: str) -> str:
    return Eid.parse(str(eid)).digits


def check_matching_id(matching_id: str) -> str:
    if not matching_id or len(matching_id) > 255 or not matching_id.isprintable() or "$" in matching_id:
        raise BadInputError("matching ID must be 1..255 printable characters without '$'")
    return matching_id


@dataclass(frozen=True)
class Profile:
    iccid: str
    matching_id: str = field(repr=False)
    cc_required: bool
    cc_failures: int
    cc_retry_limit: int
    eid: str | None
    profile_class: str
    ppr1: bool
    ppr2: bool
    released: bool
    reusable: bool
    size: int | None
    service_provider_name: str
    profile_name: str
    icon_type: int | None
    icon: bytes | None = field(repr=False)
    status: ProfileStatus
    downloaded_eid: str | None
    created_at: str
    updated_at: str
    cc_hash: bytes | None = field(repr=False, default=None)

    @property
    def masked_matching_id(self) -> str:
        return mask(self.matching_id)

    def summary(self) -> dict:
        """What the admin API and CLI show: everything but the secrets."""
        return {
            "iccid": self.iccid,
            "matchingId": self.masked_matching_id,
            "status": str(self.status),
            "released": self.released,
            "ccRequired": self.cc_required,
            "ccFailures": self.cc_failures,
            "ccRetryLimit": self.cc_retry_limit,
            "eid": self.eid,
            "downloadedEid": self.downloaded_eid,
            "profileClass": self.profile_class,
            "ppr1": self.ppr1,
            "ppr2": self.ppr2,
            "reusable": self.reusable,
            "size": self.size,
            "serviceProviderName": self.service_provider_name,
            "profileName": self.profile_name,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class StatusChange:
    """One history row: a status change, or an event that changed nothing (``error`` says why)."""

    iccid: str
    at: str
    event: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    error: str | None
    eid: str | None

    def as_dict(self) -> dict:
        return {"iccid": self.iccid, "at": self.at, "event": self.event, "from": self.from_status,
                "to": self.to_status, "reason": self.reason, "error": self.error, "eid": self.eid}


@dataclass(frozen=True)
class NewProfile:
    """What an operator gives to add a profile; secrets stay out of the repr.

    ``package`` is an operator-supplied profile package (SAIP DER), served unchanged; its
    header gives the ICCID. Without it the SM-DP+ generates a package of ``size`` bytes.
    ``access_rules`` (ARA-M rules: :class:`AccessRule`, or ``(certificate hash hex, package
    name, access type)``) go into the metadata and into a generated package's ARA-M.
    ``profile_owner`` (an :class:`OperatorId`, or ``MCCMNC[:GID1[:GID2]]``) is the metadata's
    profileOwner.
    """

    iccid: str | None = None
    matching_id: str | None = field(default=None, repr=False)
    confirmation_code: str | None = field(default=None, repr=False)
    eid: str | None = None
    profile_class: str = "operational"
    ppr1: bool = False
    ppr2: bool = False
    released: bool = True
    reusable: bool = True
    size: int | None = None
    service_provider_name: str = "esimflow lab"
    profile_name: str | None = None
    icon_type: int | None = None
    icon: bytes | None = field(default=None, repr=False)
    cc_retry_limit: int = DEFAULT_CC_RETRY_LIMIT
    package: bytes | None = field(default=None, repr=False)
    access_rules: Sequence[AccessRule | tuple] = ()
    profile_owner: OperatorId | str | None = None


def access_rule(rule: AccessRule | tuple) -> AccessRule:
    """An :class:`AccessRule` from itself or from ``(certificate hash hex, package name, access type)``."""
    if isinstance(rule, AccessRule):
        return rule
    if not isinstance(rule, (tuple, list)) or len(rule) != 3:
        raise BadInputError("an access rule is (certificate hash, package name, access type)")
    digest, package_name, access_type = rule
    try:
        digest = bytes.fromhex(digest) if isinstance(digest, str) else bytes(digest)
    except ValueError:
        raise BadInputError("an access rule's certificate hash is hex (40 or 64 digits)") from None
    if not isinstance(access_type, int) or isinstance(access_type, bool):
        raise BadInputError("an access rule's access type is a number")
    return AccessRule(digest, package_name or None, access_type)


def parse_operator(text: str) -> OperatorId:
    """``MCCMNC[:GID1[:GID2]]``: 3 MCC digits, 2 or 3 MNC digits, the group identifiers in hex."""
    plmn, gid1, gid2 = ([*str(text).split(":", 2), "", ""])[:3]
    try:
        groups = [bytes.fromhex(gid) if gid else None for gid in (gid1, gid2)]
    except ValueError:
        raise BadInputError(f"operator {text[:40]!r}: GID1 and GID2 are hex") from None
    if not (plmn.isdigit() and plmn.isascii() and len(plmn) in (5, 6)):
        raise BadInputError(f"operator {text[:40]!r}: MCC and MNC are 5 or 6 digits (e.g. 310410)")
    return OperatorId.from_plmn(plmn[:3], plmn[3:], *groups)


def parse_access_rule(text: str) -> AccessRule:
    """``CERT_HASH[:PACKAGE][:ACCESS_TYPE]``: the app's signing certificate hash (hex, SHA-1 or
    SHA-256), its package name (optional), the PERM-AR-DO as a number (decimal or 0x hex, default 0)."""
    digest, package_name, access_type = ([*str(text).split(":", 2), "", ""])[:3]
    try:
        number = int(access_type, 0) if access_type else 0
    except ValueError:
        raise BadInputError(f"access rule {text[:80]!r}: the access type {access_type[:20]!r} is not a number") from None
    try:
        return access_rule((digest, package_name, number))
    except BadInputError as error:
        raise BadInputError(f"access rule {text[:80]!r}: {error.message}") from None


def package_refused(reason: str) -> BadInputError:
    return BadInputError(f"profile package refused: {reason}", kind="input.profile_package")


def check_package(package: bytes, iccid: str | None) -> tuple[str, str | None]:
    """(ICCID, profile type) of an operator's package, or a one-line reason to refuse it."""
    if len(package) > MAX_PROFILE_SIZE:
        raise package_refused(f"{len(package)} bytes, more than the {MAX_PROFILE_SIZE} an eUICC takes")
    try:
        parsed = parse_upp(package)
    except ProfilePackageError as error:
        raise package_refused(error.message) from None
    try:
        header_iccid = Iccid.parse(parsed.iccid).digits
    except BadInputError as error:
        raise package_refused(f"header {error.message}") from None
    if iccid is not None and check_iccid(iccid) != header_iccid:
        raise package_refused(f"its header names ICCID {header_iccid}, not {iccid}")
    return header_iccid, parsed.profile_type


@dataclass(frozen=True)
class CheckedProfile:
    """What :func:`check_new_profile` derived from a :class:`NewProfile` that passed."""

    iccid: str
    matching_id: str = field(repr=False)
    size: int | None
    profile_name: str
    profile_owner: OperatorId | None
    access_rules: list[AccessRule]


def check_new_profile(new: NewProfile) -> CheckedProfile:
    """Every field checked (a BadInputError naming the first that is wrong); the ICCID from the
    package's header when there is one, a fresh matching ID when none is given."""
    profile_type = None
    if new.package is not None:
        if new.size is not None:
            raise BadInputError("a profile has either an operator's package or a generated size, not both")
        iccid, profile_type = check_package(new.package, new.iccid)
    elif new.iccid is None:
        raise BadInputError("give the ICCID or a profile package")
    else:
        iccid = check_iccid(new.iccid)
    size = len(new.package) if new.package is not None else new.size
    matching_id = check_matching_id(new.matching_id) if new.matching_id else generate_matching_id()
    if new.eid:
        check_eid(new.eid)
    if new.profile_class not in PROFILE_CLASSES:
        raise BadInputError(f"profile class must be one of {', '.join(PROFILE_CLASSES)}")
    if new.confirmation_code is not None and not new.confirmation_code:
        raise BadInputError("confirmation code must not be empty")
    if new.size is not None and (new.size < 0 or new.size > MAX_PROFILE_SIZE):
        raise BadInputError("profile size must be 0..4 MiB")
    if not 1 <= new.cc_retry_limit <= 100:
        raise BadInputError("confirmation code retry limit must be 1..100")
    if new.icon is not None and (new.icon_type not in (0, 1) or len(new.icon) > 1024):
        raise BadInputError("icon must be at most 1024 bytes with icon type 0 (JPG) or 1 (PNG)")
    if len(new.service_provider_name.encode()) > 32:
        raise BadInputError("service provider name is at most 32 bytes")
    owner = parse_operator(new.profile_owner) if isinstance(new.profile_owner, str) else new.profile_owner
    rules = [access_rule(rule) for rule in new.access_rules]
    if len(rules) > MAX_ACCESS_RULES:
        raise BadInputError(f"a profile has at most {MAX_ACCESS_RULES} access rules")
    if profile_type is not None and len(profile_type.encode()) > 64:
        profile_type = None  # too long for a profile name
    profile_name = new.profile_name or profile_type or f"Lab profile {iccid[-4:]}"
    if len(profile_name.encode()) > 64:
        raise BadInputError("profile name is at most 64 bytes")
    return CheckedProfile(iccid, matching_id, size, profile_name, owner, rules)

"""What the eUICC says about itself (EID, EUICCInfo1/2, RAT) and its configured addresses (ES10a)."""
from __future__ import annotations

from sgp22 import codec
from sgp22.errors import EidUnavailableError
from sgp22.es10_base import Es10Channel, call, check_result, exchange
from sgp22.es10_enums import SetDefaultDpAddressResult
from sgp22.es10_types import ConfiguredAddresses, EuiccInfo1, EuiccInfo2, RatRule


def get_eid(isdr: Es10Channel) -> str:
    """The EID as 32 decimal digits (the eUICC sends it as plain BCD)."""
    value = call(isdr, "GetEuiccDataRequest", {"tagList": b"\x5a"}, "GetEuiccDataResponse")
    eid: str = value["eidValue"].hex()
    if not eid.isdecimal():
        # the check digits are not judged: a test card's EID is still the name it answers to
        raise EidUnavailableError(f"the card's EID {eid.upper()} is not decimal BCD")
    return eid


def get_euicc_info1(isdr: Es10Channel) -> EuiccInfo1:
    raw, value = exchange(isdr, codec.encode("GetEuiccInfo1Request", {}), "EUICCInfo1")
    return EuiccInfo1.from_asn1(raw, value)


def get_euicc_info2(isdr: Es10Channel) -> EuiccInfo2:
    raw, value = exchange(isdr, codec.encode("GetEuiccInfo2Request", {}), "EUICCInfo2")
    return EuiccInfo2.from_asn1(raw, value)


def get_euicc_configured_addresses(isdr: Es10Channel) -> ConfiguredAddresses:
    value = call(isdr, "EuiccConfiguredAddressesRequest", {}, "EuiccConfiguredAddressesResponse")
    return ConfiguredAddresses(value.get("defaultDpAddress"), value["rootDsAddress"])


def set_default_dp_address(isdr: Es10Channel, address: str) -> None:
    """Set the default SM-DP+ address; an empty string clears it."""
    value = call(isdr, "SetDefaultDpAddressRequest", {"defaultDpAddress": address}, "SetDefaultDpAddressResponse")
    check_result("setDefaultDpAddress", SetDefaultDpAddressResult, value["setDefaultDpAddressResult"])


def get_rat(isdr: Es10Channel) -> list[RatRule]:
    value = call(isdr, "GetRatRequest", {}, "GetRatResponse")
    return [RatRule.from_asn1(rule) for rule in value["rat"]]

"""Where an RSP session goes: the SM-DP+ and matching ID from an activation code, or the
eUICC's default SM-DP+ (shared by DownloadProfile and GetDownloadableProfileMetadata)."""
from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import CardInput, CardStep, ConfiguredAddresses
    from esimflow.workflows.steps import Card, OperationFailed
    from sgp22.errors import EsimError
    from sgp22.activation_code import ActivationCode
    from sgp22.results import OhResultCode, WinStatus


@dataclass
class Target:
    server_address: str
    matching_id: str | None
    cc_required: bool
    smdp_oid: str | None = None


async def resolve_target(card: Card, activation_code: str | None, smdp_override: str | None) -> Target:
    """The SM-DP+ and matching ID to use: from the activation code, or the eUICC's default
    SM-DP+ (no matching ID) when there is none."""
    if activation_code:
        try:
            code = ActivationCode.parse(activation_code)
        except EsimError as error:  # its message never repeats the code itself
            raise OperationFailed.of(error) from None
        return Target(smdp_override or code.smdp_address, code.matching_id or None,
                      bool(code.confirmation_code_required), code.smdp_oid or None)
    if smdp_override:
        return Target(smdp_override, None, False)
    addresses = await card.call(CardStep.GET_CONFIGURED_ADDRESSES, CardInput(card.ref), ConfiguredAddresses)
    if not addresses.default_dp_address:
        raise OperationFailed("no activation code given and the eUICC has no default SM-DP+ address",
                              kind="input.no_smdp", oh_result=OhResultCode.RESULT_SMDP_ADDRESS_INVALID,
                              win_status=WinStatus.Other)
    return Target(addresses.default_dp_address, None, False)

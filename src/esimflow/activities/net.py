"""Network steps: ES9+ to SM-DP+ servers and ES11 to SM-DS servers, on the shared net queue.

Async activities (httpx). One client per server address is kept, so consecutive steps of a
session reuse the TLS connection. TLS is always verified against the configured CA file.
"""
from __future__ import annotations

from pathlib import Path

from temporalio import activity

from esimflow.activities.errors import esim_errors_as_application_errors
from esimflow.activities.liveness import heartbeating
from esimflow.activities.types import (
    AuthenticateClientResult,
    AuthenticateClientStepInput,
    GetBppResult,
    GetBppStepInput,
    HandleNotificationStepInput,
    InitiateAuthenticationResult,
    InitiateAuthenticationStepInput,
    NetCancelSessionInput,
    NetStep,
    SmdsAuthenticateClientResult,
    SmdsEvent,
)
from esimflow.contract import ProfileMetadata
from esimflow.openharmony import access_rule_dict
from sgp22 import download_steps, es10
from sgp22.es9 import Es9Client, Es9Config, Es11Client, RspServerClient
from sgp22.es10_enums import policy_rules_of


def profile_metadata(metadata: es10.ProfileMetadata, *, cc_required: bool) -> ProfileMetadata:
    return ProfileMetadata(
        iccid=metadata.iccid, service_provider_name=metadata.service_provider_name,
        profile_name=metadata.profile_name, profile_class=int(metadata.profile_class),
        policy_rules=int(policy_rules_of(metadata.ppr_ids)), confirmation_code_required=cc_required,
        access_rules=[access_rule_dict(rule) for rule in metadata.access_rules],
    )


def _hex(data: bytes) -> str:
    return data.hex().upper()


class NetActivities:
    def __init__(self, *, ca_file: Path | str | None, connect_overrides: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        self.config = Es9Config(ca_file=ca_file or _system_ca_file(), connect_overrides=dict(connect_overrides or {}),
                                timeout=timeout)
        self._clients: dict[tuple[type, str], RspServerClient] = {}

    def activities(self) -> list:
        return [self.initiate_authentication, self.authenticate_client, self.get_bound_profile_package,
                self.handle_notification, self.cancel_session, self.smds_initiate_authentication,
                self.smds_authenticate_client]

    def _client(self, kind: type[RspServerClient], address: str) -> RspServerClient:
        key = (kind, address)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = kind(address, self.config)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # --- ES9+ ------------------------------------------------------------------------------

    @activity.defn(name=NetStep.INITIATE_AUTHENTICATION)
    @esim_errors_as_application_errors
    async def initiate_authentication(self, step: InitiateAuthenticationStepInput) -> InitiateAuthenticationResult:
        return await self._initiate(Es9Client, step)

    async def _initiate(self, kind: type[RspServerClient], step: InitiateAuthenticationStepInput
                        ) -> InitiateAuthenticationResult:
        answer = await heartbeating(self._client(kind, step.server_address).initiate_authentication(
            bytes.fromhex(step.euicc_challenge), bytes.fromhex(step.euicc_info1)))
        download_steps.check_server_signed1(answer.server_signed1, transaction_id=answer.transaction_id,
                                 smdp_address=step.server_address,
                                 euicc_challenge=bytes.fromhex(step.euicc_challenge))
        if step.expected_oid:
            download_steps.check_smdp_oid(answer.server_certificate, step.expected_oid)
        return InitiateAuthenticationResult(
            transaction_id=answer.transaction_id, server_signed1=_hex(answer.server_signed1),
            server_signature1=_hex(answer.server_signature1), euicc_ci_pkid=_hex(answer.euicc_ci_pkid_to_be_used),
            server_certificate=_hex(answer.server_certificate),
        )

    @activity.defn(name=NetStep.AUTHENTICATE_CLIENT)
    @esim_errors_as_application_errors
    async def authenticate_client(self, step: AuthenticateClientStepInput) -> AuthenticateClientResult:
        client = self._client(Es9Client, step.server_address)
        answer = await heartbeating(
            client.authenticate_client(step.transaction_id, bytes.fromhex(step.authenticate_server_response)))
        cc_required = download_steps.check_smdp_signed2(answer.smdp_signed2, step.transaction_id)
        metadata = download_steps.decode_metadata(answer.profile_metadata)
        return AuthenticateClientResult(
            transaction_id=answer.transaction_id,
            metadata=profile_metadata(metadata, cc_required=cc_required),
            profile_metadata=_hex(answer.profile_metadata),
            smdp_signed2=_hex(answer.smdp_signed2), smdp_signature2=_hex(answer.smdp_signature2),
            smdp_certificate=_hex(answer.smdp_certificate),
        )

    @activity.defn(name=NetStep.GET_BOUND_PROFILE_PACKAGE)
    @esim_errors_as_application_errors
    async def get_bound_profile_package(self, step: GetBppStepInput) -> GetBppResult:
        client = self._client(Es9Client, step.server_address)
        answer = await heartbeating(client.get_bound_profile_package(
            step.transaction_id, bytes.fromhex(step.prepare_download_response)))
        package = answer.bound_profile_package
        facts = download_steps.package_facts(package, bytes.fromhex(step.profile_metadata))
        return GetBppResult(
            transaction_id=answer.transaction_id, bound_profile_package=_hex(package), iccid=facts.iccid,
            segments=facts.segments, metadata_matches=facts.metadata_matches,
        )

    @activity.defn(name=NetStep.HANDLE_NOTIFICATION)
    @esim_errors_as_application_errors
    async def handle_notification(self, step: HandleNotificationStepInput) -> None:
        await heartbeating(self._client(Es9Client, step.address).handle_notification(bytes.fromhex(step.notification)))

    @activity.defn(name=NetStep.CANCEL_SESSION)
    @esim_errors_as_application_errors
    async def cancel_session(self, step: NetCancelSessionInput) -> None:
        await heartbeating(self._client(Es9Client, step.server_address).cancel_session(
            step.transaction_id, bytes.fromhex(step.cancel_session_response)))

    # --- ES11 ------------------------------------------------------------------------------

    @activity.defn(name=NetStep.SMDS_INITIATE_AUTHENTICATION)
    @esim_errors_as_application_errors
    async def smds_initiate_authentication(self, step: InitiateAuthenticationStepInput) -> InitiateAuthenticationResult:
        return await self._initiate(Es11Client, step)

    @activity.defn(name=NetStep.SMDS_AUTHENTICATE_CLIENT)
    @esim_errors_as_application_errors
    async def smds_authenticate_client(self, step: AuthenticateClientStepInput) -> SmdsAuthenticateClientResult:
        client = self._client(Es11Client, step.server_address)
        answer = await heartbeating(
            client.authenticate_client(step.transaction_id, bytes.fromhex(step.authenticate_server_response)))
        return SmdsAuthenticateClientResult(
            transaction_id=answer.transaction_id or step.transaction_id,
            events=[SmdsEvent(event.event_id, event.rsp_server_address) for event in answer.events],
        )


def _system_ca_file() -> str:
    """Without a configured CA, the platform's default bundle (public SM-DP+ servers)."""
    import ssl

    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.openssl_cafile

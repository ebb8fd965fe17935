"""Card steps: one activity per ES10 call (GetEUICCChallenge and GetEUICCInfo1, always asked
together, share one), run by the host owning the reader: as local activities of the operation
when that host runs the workflow, else from its card task queue.

Plain ``def`` activities: pyscard blocks, so the worker runs them on a thread pool. Each takes
the reader's session from the :class:`CardPool` for its ES10 call (LoadBoundProfilePackage counts
as one), so steps of different workflows never interleave on a card.
"""
from __future__ import annotations

import contextlib
import logging

from temporalio import activity

from esimflow.activities.card_access import CardPool
from esimflow.activities.errors import esim_errors_as_application_errors
from esimflow.activities.liveness import heartbeating_thread
from esimflow.activities.osu_images import OsImageSource
from esimflow.activities.types import (
    AuthenticateServerStepInput,
    CardCancelSessionInput,
    CardInput,
    CardStep,
    ConfiguredAddresses,
    EnableProfileInput,
    EuiccAuthData,
    EuiccInfo2Data,
    LoadBppResult,
    LoadBppStepInput,
    MemoryResetStepInput,
    OsUpdateStepInput,
    OsUpdateStepResult,
    PendingNotificationData,
    PolicyRulesStepInput,
    PolicyRulesVerdict,
    PrepareDownloadStepInput,
    ProfileRefInput,
    ProfilesInfoInput,
    ProfilesOnCard,
    ReadAuthDataInput,
    RemoveNotificationStepInput,
    RetrieveNotificationsStepInput,
    SetDefaultDpAddressStepInput,
    SetNicknameStepInput,
)
from esimflow.contract import ProfileInfo
from esimflow.openharmony import access_rule_dict
from sgp22 import download_steps, es10, lpa, osu
from sgp22.es10_enums import OsuStatus, ProfileClass, ProfileState, policy_rules_of

log = logging.getLogger(__name__)


def profile_info(profile: es10.ProfileInfo) -> ProfileInfo:
    """The card's ProfileInfo in OpenHarmony terms (state, class and policy-rule numbering)."""
    owner = profile.profile_owner
    return ProfileInfo(
        iccid=profile.iccid or "",
        state=int(ProfileState.unspecified if profile.state is None else profile.state),
        nickname=profile.nickname or "",
        service_provider_name=profile.service_provider_name or "",
        profile_name=profile.profile_name or "",
        profile_class=int(ProfileClass.unspecified if profile.profile_class is None else profile.profile_class),
        policy_rules=int(policy_rules_of(profile.ppr_ids)),
        isdp_aid=(profile.isdp_aid or b"").hex().upper(),
        operator=None if owner is None else {
            "mcc": owner.mcc, "mnc": owner.mnc,
            "gid1": (owner.gid1 or b"").hex().upper(), "gid2": (owner.gid2 or b"").hex().upper(),
        },
        access_rules=[access_rule_dict(rule) for rule in profile.access_rules],
    )


def pending_notification(item: es10.PendingNotification) -> PendingNotificationData:
    return PendingNotificationData(
        seq=item.metadata.seq_number, event=item.metadata.event_name, address=item.metadata.address,
        iccid=item.metadata.iccid, notification=item.raw.hex().upper(),
    )


@contextlib.contextmanager
def whole_step():
    """A cancelled card step (an operator skipping the operation) still finishes its ES10 call:
    the SDK would otherwise raise the cancellation inside this thread, between two APDUs."""
    if not activity.in_activity():
        yield
        return
    with activity.shield_thread_cancel_exception():
        yield


class CardActivities:
    """The card steps of one worker host, over the cards its :class:`CardPool` reaches."""

    def __init__(self, pool: CardPool, device_info: es10.DeviceInfo | None = None,
                 os_images: OsImageSource | None = None) -> None:
        self.pool = pool
        self.device_info = device_info or es10.DeviceInfo()
        self.os_images = os_images

    @contextlib.contextmanager
    def _session(self, step, *, check_eid: bool = True):
        """The card's ISD-R session for one step, heartbeating while the step runs."""
        with whole_step(), heartbeating_thread(), \
                self.pool.session(step.card.reader, step.card.eid if check_eid else None) as isdr:
            yield isdr

    def activities(self) -> list:
        return [
            self.get_eid, self.get_euicc_info2, self.read_auth_data,
            self.authenticate_server, self.prepare_download, self.load_bound_profile_package,
            self.cancel_session, self.retrieve_notifications, self.remove_notification,
            self.get_profiles_info, self.enable_profile, self.delete_profile,
            self.memory_reset, self.set_nickname, self.get_configured_addresses,
            self.set_default_dp_address, self.check_policy_rules, self.os_update,
        ]

    # --- identity and information ----------------------------------------------------------

    @activity.defn(name=CardStep.GET_EID)
    @esim_errors_as_application_errors
    def get_eid(self, step: CardInput) -> str:
        with self._session(step, check_eid=False) as isdr:
            return es10.get_eid(isdr)

    @activity.defn(name=CardStep.GET_EUICC_INFO2)
    @esim_errors_as_application_errors
    def get_euicc_info2(self, step: CardInput) -> EuiccInfo2Data:
        with self._session(step) as isdr:
            info = es10.get_euicc_info2(isdr)
        return EuiccInfo2Data(
            os_version=info.firmware_version, svn=info.svn, profile_version=info.profile_version,
            free_nvm=info.ext_card_resource.free_nvm, free_ram=info.ext_card_resource.free_ram,
            ci_pkids_for_verification=[pkid.hex().upper() for pkid in info.ci_pkids_for_verification],
            ci_pkids_for_signing=[pkid.hex().upper() for pkid in info.ci_pkids_for_signing],
            sas_accreditation_number=info.sas_accreditation_number,
        )

    @activity.defn(name=CardStep.GET_CONFIGURED_ADDRESSES)
    @esim_errors_as_application_errors
    def get_configured_addresses(self, step: CardInput) -> ConfiguredAddresses:
        with self._session(step) as isdr:
            addresses = es10.get_euicc_configured_addresses(isdr)
        return ConfiguredAddresses(addresses.default_dp_address or None, addresses.root_ds_address or None)

    @activity.defn(name=CardStep.SET_DEFAULT_DP_ADDRESS)
    @esim_errors_as_application_errors
    def set_default_dp_address(self, step: SetDefaultDpAddressStepInput) -> None:
        with self._session(step) as isdr:
            es10.set_default_dp_address(isdr, step.address)

    # --- download session ------------------------------------------------------------------

    @activity.defn(name=CardStep.READ_AUTH_DATA)
    @esim_errors_as_application_errors
    def read_auth_data(self, step: ReadAuthDataInput) -> EuiccAuthData:
        """GetEUICCChallenge and GetEUICCInfo1: what initiateAuthentication needs, in one step;
        with ``with_profiles`` also GetProfilesInfo, saving a download a step of its own."""
        with_profiles = isinstance(step, ReadAuthDataInput) and step.with_profiles
        with self._session(step) as isdr:
            found = es10.get_profiles_info(isdr) if with_profiles else None
            data = lpa.read_euicc_auth_data(isdr)
        return EuiccAuthData(data.euicc_challenge.upper(), data.euicc_info1.upper(),
                             None if found is None else [profile_info(profile) for profile in found])

    @activity.defn(name=CardStep.AUTHENTICATE_SERVER)
    @esim_errors_as_application_errors
    def authenticate_server(self, step: AuthenticateServerStepInput) -> str:
        request = download_steps.authenticate_server_request(
            step.server_signed1, step.server_signature1, step.euicc_ci_pkid, step.server_certificate,
            step.matching_id, self.device_info,
        )
        with self._session(step) as isdr:
            result = es10.authenticate_server(isdr, request)
        download_steps.check_card_transaction(result.transaction_id, step.transaction_id, "signed")
        return result.raw.hex().upper()

    @activity.defn(name=CardStep.PREPARE_DOWNLOAD)
    @esim_errors_as_application_errors
    def prepare_download(self, step: PrepareDownloadStepInput) -> str:
        request = download_steps.prepare_download_request(
            step.transaction_id, step.smdp_signed2, step.smdp_signature2, step.smdp_certificate,
            step.confirmation_code,
        )
        with self._session(step) as isdr:
            result = es10.prepare_download(isdr, request)
        download_steps.check_card_transaction(result.transaction_id, step.transaction_id, "prepared")
        return result.raw.hex().upper()

    @activity.defn(name=CardStep.LOAD_BOUND_PROFILE_PACKAGE)
    @esim_errors_as_application_errors
    def load_bound_profile_package(self, step: LoadBppStepInput) -> LoadBppResult:
        """Install once: first look for the profile (and its installation result) on the card,
        since this may be a re-run whose earlier run installed it and died before answering.
        Progress goes out as heartbeat details ``(segments done, segments total)``, which a
        client reads from the workflow's pending activity."""
        bpp = bytes.fromhex(step.bound_profile_package)
        with whole_step(), heartbeating_thread() as heartbeat, \
                self.pool.session(step.card.reader, step.card.eid) as isdr:
            found = self._installed_earlier(isdr, step.iccid)
            if found is not None:
                return found

            def segment_done(progress: es10.SegmentProgress) -> None:
                heartbeat(progress.done, progress.total)

            pir = es10.load_bound_profile_package(isdr, bpp, on_segment=segment_done)
        error = es10.installation_error(pir)
        return LoadBppResult(
            installed=error is None, iccid=pir.iccid or step.iccid, pir=pir.raw.hex().upper(),
            notification_seq=pir.notification.seq_number, notification_address=pir.notification.address,
            error=error.to_dict() if error is not None and hasattr(error, "to_dict") else None,
            attempt=activity.info().attempt,
        )

    def _installed_earlier(self, isdr, iccid: str) -> LoadBppResult | None:
        if not es10.get_profiles_info(isdr, iccid=iccid):
            return None
        log.info("profile already on the card; not sending the bound profile package again")
        pirs = [item for item in es10.retrieve_notifications_list(isdr, event=es10.NotificationEvent.install)
                if item.metadata.iccid == iccid]
        latest = max(pirs, key=lambda item: item.metadata.seq_number, default=None)
        return LoadBppResult(
            installed=True, iccid=iccid, already_installed=True,
            pir=latest.raw.hex().upper() if latest else None,
            notification_seq=latest.metadata.seq_number if latest else None,
            notification_address=latest.metadata.address if latest else None,
        )

    @activity.defn(name=CardStep.CHECK_POLICY_RULES)
    @esim_errors_as_application_errors
    def check_policy_rules(self, step: PolicyRulesStepInput) -> PolicyRulesVerdict:
        """Whether the eUICC's Rules Authorisation Table allows the offered profile's PPRs, and
        whether they need the user's consent."""
        metadata = download_steps.decode_metadata(bytes.fromhex(step.profile_metadata))
        with self._session(step) as isdr:
            rat = es10.get_rat(isdr)
        allowed, consent_required = download_steps.policy_rules_decision(rat, metadata)
        return PolicyRulesVerdict(allowed, consent_required)

    @activity.defn(name=CardStep.CANCEL_SESSION)
    @esim_errors_as_application_errors
    def cancel_session(self, step: CardCancelSessionInput) -> str:
        with self._session(step) as isdr:
            signed = es10.cancel_session(isdr, bytes.fromhex(step.transaction_id),
                                         es10.CancelSessionReason(step.reason))
        return signed.hex().upper()

    # --- notifications ---------------------------------------------------------------------

    @activity.defn(name=CardStep.RETRIEVE_NOTIFICATIONS)
    @esim_errors_as_application_errors
    def retrieve_notifications(self, step: RetrieveNotificationsStepInput) -> list[PendingNotificationData]:
        with self._session(step) as isdr:
            if step.sequence_numbers is None:
                items = es10.retrieve_notifications_list(isdr)
            else:
                items = [item for seq in step.sequence_numbers
                         for item in es10.retrieve_notifications_list(isdr, seq_number=seq)]
        return [pending_notification(item) for item in items]

    @activity.defn(name=CardStep.REMOVE_NOTIFICATION)
    @esim_errors_as_application_errors
    def remove_notification(self, step: RemoveNotificationStepInput) -> None:
        from sgp22.errors import Es10ResultError

        with self._session(step) as isdr:
            try:
                es10.remove_notification_from_list(isdr, step.seq)
            except Es10ResultError as error:
                if error.result_name != "nothingToDelete":  # removed by an attempt whose answer was lost
                    raise

    # --- profiles --------------------------------------------------------------------------

    @activity.defn(name=CardStep.GET_PROFILES_INFO)
    @esim_errors_as_application_errors
    def get_profiles_info(self, step: ProfilesInfoInput) -> ProfilesOnCard:
        with self._session(step) as isdr:
            found = es10.get_profiles_info(isdr, iccid=step.iccid)
        return ProfilesOnCard([profile_info(profile) for profile in found])

    @activity.defn(name=CardStep.ENABLE_PROFILE)
    @esim_errors_as_application_errors
    def enable_profile(self, step: EnableProfileInput) -> None:
        with self._session(step) as isdr:
            es10.enable_profile(isdr, iccid=step.iccid, refresh=step.refresh)

    @activity.defn(name=CardStep.DELETE_PROFILE)
    @esim_errors_as_application_errors
    def delete_profile(self, step: ProfileRefInput) -> None:
        with self._session(step) as isdr:
            es10.delete_profile(isdr, iccid=step.iccid)

    @activity.defn(name=CardStep.MEMORY_RESET)
    @esim_errors_as_application_errors
    def memory_reset(self, step: MemoryResetStepInput) -> None:
        with self._session(step) as isdr:
            es10.memory_reset(isdr, es10.ResetOption(step.options))

    @activity.defn(name=CardStep.SET_NICKNAME)
    @esim_errors_as_application_errors
    def set_nickname(self, step: SetNicknameStepInput) -> None:
        with self._session(step) as isdr:
            es10.set_nickname(isdr, step.iccid, step.nickname)

    # --- OS update (vendor commands, docs/osu.md) ------------------------------------------

    @activity.defn(name=CardStep.OS_UPDATE)
    @esim_errors_as_application_errors
    def os_update(self, step: OsUpdateStepInput) -> OsUpdateStepResult:
        """Report the OS update status, or update to the newest image the host offers.

        No image source configured is the OpenHarmony "service unavailable"; an offered image
        no newer than the card's OS is "already latest" unless the card ran another version
        when the operation began (``version_before``): then an attempt that finished but whose
        answer was lost did the update, and it is not loaded again.
        """
        with whole_step(), heartbeating_thread() as heartbeat, \
                self.pool.session(step.card.reader, step.card.eid) as isdr:
            updater = osu.OsUpdater(isdr.transport, channel=0)
            info = updater.info()
            if not step.start:
                status = info.status or OsuStatus.EUICC_UPGRADE_ALREADY_LATEST
                return OsUpdateStepResult(int(status), info.version_text, "last update outcome"
                                          if info.status else "no update attempted")
            image = self.os_images.newest() if self.os_images is not None else None
            if image is None:
                return OsUpdateStepResult(int(OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE), info.version_text,
                                          "this host offers no OS image")
            if image.version <= info.version:
                updated_by_us = (image.version == info.version and step.version_before is not None
                                 and step.version_before != info.version_text)
                status = OsuStatus.EUICC_UPGRADE_SUCCESSFUL if updated_by_us else OsuStatus.EUICC_UPGRADE_ALREADY_LATEST
                return OsUpdateStepResult(int(status), info.version_text, f"offered {_version(image.version)}")
            heartbeat("loading", _version(image.version))
            status = updater.load(image)
            after = updater.info()
        return OsUpdateStepResult(int(status), after.version_text, f"offered {_version(image.version)}")


def _version(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)

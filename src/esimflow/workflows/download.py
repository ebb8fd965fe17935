"""DownloadProfile: one profile from an SM-DP+ onto the eUICC, durable across worker crashes.

Session by session (at most ``MAX_SESSIONS``): authenticate, preview the metadata, wait for the
user where the profile needs it (policy rules without ``is_ppr_allowed``, a confirmation code,
or ``require_user_consent``), PrepareDownload, fetch and install the bound profile package,
deliver the installation result, and optionally enable the profile.

Crash safety: every step is an activity, so a killed worker resumes at the step it was in. The
one step that must not run twice is LoadBoundProfilePackage; its activity looks for the ICCID
on the card before sending anything on a retry, and this workflow does the same before a new
session. A session that cannot go on is cancelled on the card and at the SM-DP+ with the
reason the DownloadSession machine allows in that phase.
"""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        CardInput,
        CardStep,
        ConfiguredAddresses,
        GetBppResult,
        GetBppStepInput,
        LoadBppResult,
        LoadBppStepInput,
        NetStep,
        PendingNotificationData,
        PolicyRulesStepInput,
        PolicyRulesVerdict,
        PrepareDownloadStepInput,
    )
    from esimflow.contract import (
        UPDATE_DECLINE,
        UPDATE_GIVE_CONSENT,
        UPDATE_PROVIDE_CONFIRMATION_CODE,
        CancelSessionInput,
        ConfirmationCodeInput,
        ConsentInput,
        DeclineInput,
        DownloadProfileInput,
        GetDownloadableProfileMetadataInput,
        Operation,
        OperationResult,
        Progress,
        SolvableErrors,
    )
    from esimflow.machines import DownloadSession, Status
    from sgp22.es10_enums import CancelSessionReason
    from esimflow.workflows import policies
    from esimflow.workflows.base import (
        OperationWorkflow,
        deliver_notifications,
        deliver_one,
        profiles_on,
        record_status,
    )
    from esimflow.workflows.profiles import switch_to
    from esimflow.workflows.rsp import Authenticated, cancel_session, mutual_authentication
    from esimflow.workflows.steps import Card, OperationFailed, StepFailed, card_of, conclude, net_call, together
    from sgp22.cancel_reasons import USER_DECLINE_REASONS, Stop, cancel_reason
    from sgp22.errors import (
        ConfirmationCodeRetriesExceededError,
        ConsentTimeoutError,
        EsimError,
        DownloadRetriesExceededError,
        UserCancelledError,
    )
    from esimflow.openharmony import downloadable_profile_json
    from sgp22.identifiers import ActivationCode
    from sgp22.results import OhResultCode, WinStatus

MAX_SESSIONS = policies.DOWNLOAD_SESSIONS
FORGOTTEN_SESSION = "es9.8.10.1/3.9"
"""The SM-DP+ no longer knows the transaction (restarted, or the session expired): one new
session can cure that, more cannot (a server that forgets every session is broken)."""
MAX_CONFIRMATION_CODE_ATTEMPTS = 3
PATCH_REFUSED_CODE_ENDS_AT_ONCE = "refused-confirmation-code-ends-at-once"
SIGNAL_CANCEL_SESSION = "cancel_session"

R = CancelSessionReason


class _NewSession(Exception):
    """This session ended without an install; a fresh one may succeed. ``failure``: what ended
    it, reported if no session is left to try."""

    def __init__(self, reason: str, failure: OperationFailed | None = None) -> None:
        super().__init__(reason)
        self.failure = failure


@dataclasses.dataclass
class _Target:
    server_address: str
    matching_id: str | None
    cc_required: bool
    smdp_oid: str | None = None


class RspSessionWorkflow(OperationWorkflow):
    """The user-facing half of a session: updates that answer the metadata preview, and the
    cancel request a CancelSession operation forwards here."""

    def __init__(self) -> None:
        super().__init__()
        self._confirmation_code: str | None = None
        self._consent: ConsentInput | None = None
        self._declined: int | None = None
        self._cancel_requested: int | None = None
        self._waiting_for: str | None = None
        self.session = DownloadSession()

    @workflow.update(name=UPDATE_PROVIDE_CONFIRMATION_CODE)
    async def provide_confirmation_code(self, answer: ConfirmationCodeInput) -> Progress:
        self._confirmation_code = answer.code
        return self._answered_with("confirmation code received")

    @provide_confirmation_code.validator
    def _validate_code(self, answer: ConfirmationCodeInput) -> None:
        if self._progress.awaiting != "confirmation_code" or self._confirmation_code is not None:
            raise ValueError("this download is not waiting for a confirmation code")
        if not answer.code:
            raise ValueError("the confirmation code is empty")

    @workflow.update(name=UPDATE_GIVE_CONSENT)
    async def give_consent(self, answer: ConsentInput) -> Progress:
        self._consent = answer
        return self._answered_with("consent received")

    @give_consent.validator
    def _validate_consent(self, answer: ConsentInput) -> None:
        if self._progress.awaiting != "consent" or self._consent is not None:
            raise ValueError("this download is not waiting for consent")

    @workflow.update(name=UPDATE_DECLINE)
    async def decline(self, answer: DeclineInput) -> Progress:
        self._declined = answer.reason
        return self._answered_with("declined")

    @decline.validator
    def _validate_decline(self, answer: DeclineInput) -> None:
        if self._progress.awaiting is None:
            raise ValueError("this download is not waiting for the user")
        if answer.reason not in USER_DECLINE_REASONS:
            raise ValueError("a user declines with endUserRejection, postponed or pprNotAllowed")

    @workflow.signal(name=SIGNAL_CANCEL_SESSION)
    def cancel_session_requested(self, request: CancelSessionInput) -> None:
        if request.transaction_id == self._progress.transaction_id:
            self._cancel_requested = request.reason

    def _answered_with(self, phase: str) -> Progress:
        """The progress as the answer leaves it (the wait ends at the workflow's next step)."""
        self._progress.awaiting = None
        self.phase(phase)
        return self._progress

    def _answered(self) -> bool:
        return (self._declined is not None or self._cancel_requested is not None
                or (self._waiting_for == "consent" and self._consent is not None)
                or (self._waiting_for == "confirmation_code" and self._confirmation_code is not None))

    def _on_transaction(self, transaction_id: str) -> None:
        self._progress.transaction_id = transaction_id

    async def _await_user(self, awaiting: str, timeout_seconds: float) -> str:
        """Wait for an answer: ``answered``, ``declined`` or ``timeout``."""
        self._progress.awaiting = self._waiting_for = awaiting
        self.phase(f"awaiting {awaiting.replace('_', ' ')}")
        try:
            await workflow.wait_condition(self._answered, timeout=timedelta(seconds=timeout_seconds))
        except TimeoutError:
            return "timeout"
        finally:
            self._progress.awaiting = self._waiting_for = None
        if self._declined is not None or self._cancel_requested is not None:
            return "declined"
        return "answered"

    def _user_reason(self) -> CancelSessionReason:
        reason = self._declined if self._declined is not None else self._cancel_requested
        return R(int(reason)) if reason is not None else cancel_reason(Stop.USER_DECLINED)


async def resolve_target(card: Card, activation_code: str | None, smdp_override: str | None) -> _Target:
    """The SM-DP+ and matching ID to use: from the activation code, or the eUICC's default
    SM-DP+ (no matching ID) when there is none."""
    if activation_code:
        try:
            code = ActivationCode.parse(activation_code)
        except EsimError as error:  # its message never repeats the code itself
            raise OperationFailed.of(error) from None
        return _Target(smdp_override or code.smdp_address, code.matching_id or None,
                       bool(code.confirmation_code_required), code.smdp_oid or None)
    if smdp_override:
        return _Target(smdp_override, None, False)
    addresses = await card.call(CardStep.GET_CONFIGURED_ADDRESSES, CardInput(card.ref), ConfiguredAddresses)
    if not addresses.default_dp_address:
        raise OperationFailed("no activation code given and the eUICC has no default SM-DP+ address",
                              kind="input.no_smdp", oh_result=OhResultCode.RESULT_SMDP_ADDRESS_INVALID,
                              win_status=WinStatus.Other)
    return _Target(addresses.default_dp_address, None, False)


@workflow.defn(name=Operation.DOWNLOAD_PROFILE)
class DownloadProfileWorkflow(RspSessionWorkflow):
    operation = Operation.DOWNLOAD_PROFILE

    def __init__(self) -> None:
        super().__init__()
        self._iccid: str | None = None
        self._iccids_before: set[str] | None = None
        self._code_attempts = 0
        self._forgotten_sessions = 0
        self._code_from_request = False

    @workflow.run
    async def run(self, request: DownloadProfileInput) -> OperationResult:
        return await conclude(self, request.eid, lambda: self._download(request))

    async def _download(self, request: DownloadProfileInput) -> OperationResult:
        card = await card_of(self.context, request.eid)
        target = await resolve_target(card, request.activation_code, request.smdp_address)
        self._confirmation_code = request.confirmation_code
        self._code_from_request = bool(request.confirmation_code)
        last: _NewSession | None = None
        for attempt in range(1, MAX_SESSIONS + 1):
            self._progress.session_attempt = attempt
            try:
                return await self._one_session(card, request, target)
            except _NewSession as ended:
                last = ended
                workflow.logger.info("download session %d ended (%s)", attempt, ended)
                if attempt < MAX_SESSIONS:
                    await workflow.sleep(timedelta(seconds=2 * attempt))
        if last is not None and last.failure is not None:
            last.failure.data["session_attempts"] = MAX_SESSIONS
            raise last.failure
        raise OperationFailed.of(DownloadRetriesExceededError(f"no download session succeeded in {MAX_SESSIONS} attempts"))

    async def _installed_now(self, card: Card) -> bool:
        if self._iccid is None or self._iccid in (self._iccids_before or set()):
            return False
        return bool(await profiles_on(card, self._iccid))

    async def _one_session(self, card: Card, request: DownloadProfileInput, target: _Target) -> OperationResult:
        """One RSP session; a step that failed for a reason another session may not meet (a
        lost RSP session, a server or card that stayed unreachable past the step's retries)
        ends it with a legal cancel and asks for a new one."""
        try:
            return await self._session_steps(card, request, target)
        except asyncio.CancelledError:
            # an operator skipped the download: no RSP session is left open on the card or at
            # the SM-DP+ (the order stays usable)
            if self.session.holds_session:
                await cancel_session(card, self.session, target.server_address, self._progress.transaction_id,
                                     cancel_reason(Stop.OPERATOR_SKIPPED))
            raise
        except StepFailed as failure:
            if self.session.holds_session:
                await cancel_session(card, self.session, target.server_address, self._progress.transaction_id,
                                     cancel_reason(Stop.STEP_FAILED))
            if failure.kind == FORGOTTEN_SESSION and workflow.patched("forgotten-session-once"):
                self._forgotten_sessions += 1
                if self._forgotten_sessions > 1:
                    raise
                raise _NewSession(f"the SM-DP+ forgot the session in {failure.data.get('step')}", failure) from None
            if (failure.retryable and failure.kind != "engine.internal") or _session_lost(failure):
                raise _NewSession(f"{failure.kind} in {failure.data.get('step')}", failure) from None
            raise

    async def _session_steps(self, card: Card, request: DownloadProfileInput, target: _Target) -> OperationResult:
        if await self._installed_now(card):  # an earlier session installed it; its answer was lost
            return await self._finish(card, request, target, None, already_installed=True)
        self.session = session = DownloadSession()
        self.phase("authenticating")
        try:
            # the first session also takes the snapshot of the ICCIDs on the card before the download
            authenticated = await mutual_authentication(card, session, target.server_address, target.matching_id,
                                                        expected_oid=target.smdp_oid,
                                                        on_transaction=self._on_transaction,
                                                        with_profiles=self._iccids_before is None)
        except StepFailed:
            await cancel_session(card, session, None, self._progress.transaction_id, cancel_reason(Stop.STEP_FAILED))
            raise
        if authenticated.profiles is not None:
            self._iccids_before = {profile.iccid for profile in authenticated.profiles}
        metadata = authenticated.auth.metadata
        metadata.confirmation_code_required = metadata.confirmation_code_required or target.cc_required
        session.cc_required = metadata.confirmation_code_required
        self._iccid = metadata.iccid
        self._progress.metadata = metadata
        tid = authenticated.transaction_id

        if metadata.iccid in (self._iccids_before or set()):
            await self._cancel(card, authenticated, cancel_reason(Stop.PROFILE_ALREADY_ON_CARD))
            raise OperationFailed(f"profile {metadata.iccid} is already on this eUICC", kind="download.iccid_exists",
                                  oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.IccidAlreadyExists)

        if metadata.policy_rules:
            verdict = await card.call(CardStep.CHECK_POLICY_RULES,
                                      PolicyRulesStepInput(card.ref, authenticated.auth.profile_metadata),
                                      PolicyRulesVerdict)
            if not verdict.allowed:
                outcome = await self._cancel(card, authenticated, cancel_reason(Stop.POLICY_RULES_NOT_ALLOWED))
                raise OperationFailed("the eUICC's rules authorisation table does not allow this profile's policy rules",
                                      kind="lpa.ppr_not_allowed", oh_result=OhResultCode.RESULT_PPR_NOT_MATCH,
                                      win_status=WinStatus.PolicyViolation, data={"cancel": outcome})
        needs_rules_consent = bool(metadata.policy_rules) and not request.is_ppr_allowed
        metadata.solvable_errors = (
            (SolvableErrors.SOLVABLE_ERROR_NEED_POLICY_RULE if needs_rules_consent else 0)
            | (SolvableErrors.SOLVABLE_ERROR_NEED_CONFIRMATION_CODE
               if metadata.confirmation_code_required and not self._confirmation_code else 0)
        )
        if needs_rules_consent or request.require_user_consent:
            session.ask_consent()
            answer = await self._await_user("consent", request.consent_timeout_seconds)
            if answer != "answered":
                return await self._user_ended(card, authenticated, answer)
            if needs_rules_consent and not self._consent.accept_policy_rules:
                outcome = await self._cancel(card, authenticated, cancel_reason(Stop.POLICY_RULES_DECLINED))
                raise OperationFailed("the profile's policy rules were not accepted", kind="download.ppr_not_allowed",
                                      oh_result=OhResultCode.RESULT_PPR_FORBIDDEN,
                                      win_status=WinStatus.PolicyViolation, data={"cancel": outcome})
        if metadata.confirmation_code_required:
            session.ask_confirmation_code()  # a code given with the request answers at once
            if not self._confirmation_code:
                answer = await self._await_user("confirmation_code", request.consent_timeout_seconds)
                if answer != "answered":
                    return await self._user_ended(card, authenticated, answer, waiting_for_code=True)
        await self._honour_cancel_request(card, authenticated)

        session.prepare()
        self.phase("preparing download")
        prepare_response = await card.call(
            CardStep.PREPARE_DOWNLOAD,
            PrepareDownloadStepInput(
                card.ref, tid, authenticated.auth.smdp_signed2, authenticated.auth.smdp_signature2,
                authenticated.auth.smdp_certificate,
                self._confirmation_code if metadata.confirmation_code_required else None,
            ),
            str,
        )
        await self._honour_cancel_request(card, authenticated)
        self.phase("downloading package")
        try:
            package = await net_call(
                NetStep.GET_BOUND_PROFILE_PACKAGE,
                GetBppStepInput(target.server_address, tid, prepare_response, authenticated.auth.profile_metadata),
                GetBppResult,
            )
        except StepFailed as failure:
            await self._cancel(card, authenticated, cancel_reason(Stop.STEP_FAILED))
            if failure.oh_result == OhResultCode.RESULT_CONFIRMATION_CODE_INCORRECT:
                self._code_attempts += 1
                refused_up_front, self._code_from_request = self._code_from_request, False
                self._confirmation_code = None
                # A caller that gave the code up front and cannot be asked learns at once that it
                # is wrong, instead of the download waiting out the consent timeout.
                if (refused_up_front and not request.ask_again_if_code_refused
                        and workflow.patched(PATCH_REFUSED_CODE_ENDS_AT_ONCE)):
                    raise
                if self._code_attempts < MAX_CONFIRMATION_CODE_ATTEMPTS:
                    self._progress.detail = "confirmation code incorrect"
                    raise _NewSession("confirmation code incorrect", failure) from None
                if workflow.patched(PATCH_REFUSED_CODE_ENDS_AT_ONCE):
                    raise OperationFailed.of(ConfirmationCodeRetriesExceededError(
                        f"{self._code_attempts} confirmation codes were refused; the download gives up",
                        kind="download.confirmation_code_attempts", function="getBoundProfilePackage",
                        subject_code="", reason_code=""), data=failure.data) from None
            raise
        session.receive_package()

        def record_downloaded():
            return record_status(card, metadata.iccid, self.operation, "download", fallback=Status.AVAILABLE)

        if not package.metadata_matches:
            await record_downloaded()
            outcome = await self._cancel(card, authenticated, cancel_reason(Stop.METADATA_MISMATCH))
            await record_status(card, metadata.iccid, self.operation, "abandon", fallback=Status.DOWNLOADED,
                                error_reason="metadataMismatch")
            raise OperationFailed("the bound profile package does not carry the previewed profile",
                                  kind="lpa.metadata_mismatch", oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                                  win_status=WinStatus.ProfileProcessingError, data={"cancel": outcome})

        session.load()
        self.phase("installing")
        self._progress.segments_total = package.segments
        try:
            # the DOWNLOADED record is written while the card installs (it only has to land
            # before the record of how the installation ended)
            loaded, _ = await together(card.call(
                CardStep.LOAD_BOUND_PROFILE_PACKAGE,
                LoadBppStepInput(card.ref, tid, package.bound_profile_package, metadata.iccid),
                LoadBppResult, retry=policies.load_bpp_retry(),
                start_to_close=policies.LOAD_BPP_START_TO_CLOSE, heartbeat=policies.LOAD_BPP_HEARTBEAT,
                recorded_first=True,
            ), record_downloaded())
        except StepFailed as failure:
            # Removed card, transport trouble past the retries, or a card reset (a worker crash
            # drops its PC/SC connection) that took the RSP session with it: the eUICC gave no
            # installation result, so either it installed (answer lost) or nothing is installed
            # and a new session can bind the profile again.
            if await self._installed_now(card):
                return await self._finish(card, request, target, None, already_installed=True)
            outcome = await self._cancel(card, authenticated, cancel_reason(Stop.INSTALL_BROKE_OFF))
            await record_status(card, metadata.iccid, self.operation, "abandon", fallback=Status.DOWNLOADED,
                                error_reason=failure.kind)
            raise _NewSession(f"{failure.kind} during LoadBoundProfilePackage; cancel: {outcome}", failure) from None
        if loaded.error is not None:
            session.fail()
            await record_status(card, metadata.iccid, self.operation, "abandon", fallback=Status.DOWNLOADED,
                                error_reason=loaded.error.get("kind"))
            # the installation result still goes to the SM-DP+, so its inventory matches the card
            notifications = await deliver_notifications(card, _seq_list(loaded))
            failure = OperationFailed(
                loaded.error.get("message", "the eUICC refused the profile"),
                kind=loaded.error.get("kind", "es10.loadBoundProfilePackage"),
                oh_result=OhResultCode(loaded.error.get("oh_result_code", OhResultCode.RESULT_SGP_22_OTHER)),
                win_status=WinStatus(loaded.error.get("win_status_code", WinStatus.ProfileProcessingError)),
                data={"iccid": metadata.iccid, "notifications": notifications},
            )
            if (loaded.error.get("retryable") or loaded.attempt > 1
                    or loaded.error.get("kind", "").endswith(_INTERRUPTION_RESULTS)):
                # interrupted, or refused after a re-run sent a package the card had half taken
                # (a worker died mid-load): a new session binds the profile afresh
                raise _NewSession(f"installation result {failure.kind} (attempt {loaded.attempt})", failure)
            raise failure
        return await self._finish(card, request, target, loaded, already_installed=loaded.already_installed)

    async def _finish(self, card: Card, request: DownloadProfileInput, target: _Target,
                      loaded: LoadBppResult | None, *, already_installed: bool) -> OperationResult:
        iccid = self._iccid
        if self.session.phase == "installing":
            self.session.finish_install()
        self.phase("delivering installation result")
        installed = record_status(card, iccid, self.operation, "install", fallback=Status.DOWNLOADED)
        if loaded is not None and loaded.pir and loaded.notification_seq is not None and loaded.notification_address:
            notifications: dict = {"delivered": [], "failed": []}
            await together(installed, deliver_one(card, PendingNotificationData(
                loaded.notification_seq, "install", loaded.notification_address, iccid, loaded.pir), notifications))
        else:
            _, notifications = await together(installed, deliver_notifications(
                card, _seq_list(loaded) if loaded else None))
        if self.session.phase == "installed" and not notifications["failed"]:
            self.session.notify()
        data = {
            "iccid": iccid,
            "transaction_id": self._progress.transaction_id,
            "metadata": dataclasses.asdict(self._progress.metadata) if self._progress.metadata else None,
            "already_installed": already_installed,
            "session_attempts": self._progress.session_attempt,
            "notifications": notifications,
            "enabled": False,
            "carrier_name": request.carrier_name,
        }
        if request.switch_after_download:
            switched = await switch_to(self, card, iccid, port=request.port_index,
                                       force_disable=request.force_disable_profile, operation=self.operation)
            data["enabled"] = switched.ok
            data["switch"] = switched.data
        self.phase("done")
        return OperationResult.success(self.operation, request.eid, data, message=f"profile {iccid} installed")

    async def _cancel(self, card: Card, authenticated: Authenticated, reason: CancelSessionReason) -> dict:
        self.phase("cancelling session", reason.name)
        return await cancel_session(card, self.session, authenticated.server_address,
                                    authenticated.transaction_id, reason)

    async def _honour_cancel_request(self, card: Card, authenticated: Authenticated) -> None:
        """A CancelSession forwarded while a step ran takes effect between steps."""
        if self._cancel_requested is None:
            return
        outcome = await self._cancel(card, authenticated, R(int(self._cancel_requested)))
        raise OperationFailed.of(UserCancelledError("the download was cancelled"),
                                 data={"cancel": outcome, "cancelled_transaction_id": authenticated.transaction_id})

    async def _user_ended(self, card: Card, authenticated: Authenticated, answer: str, *,
                          waiting_for_code: bool = False) -> OperationResult:
        if answer == "timeout":
            outcome = await self._cancel(card, authenticated, cancel_reason(Stop.NO_ANSWER_IN_TIME))
            question = "confirmation code" if waiting_for_code else "consent"
            raise OperationFailed.of(
                ConsentTimeoutError(f"no {question} from the user in time; the session was cancelled (timeout)",
                                    win_status=WinStatus.ConfirmationCodeMissing if waiting_for_code else None),
                data={"cancel": outcome, "cancelled_transaction_id": authenticated.transaction_id,
                      "solvable_errors": self._progress.metadata.solvable_errors},
            )
        reason = self._user_reason()
        outcome = await self._cancel(card, authenticated, reason)
        raise OperationFailed.of(
            UserCancelledError(f"the user declined the download ({reason.name})"),
            data={"cancel": outcome, "cancelled_transaction_id": authenticated.transaction_id},
        )


_INTERRUPTION_RESULTS = (
    # installation results a re-sent package meets when the card was already fed part of it
    "installFailedDueToInterruption", "scp03tStructureError", "scp03tSecurityError", "invalidTransactionId",
)


def _session_lost(failure: StepFailed) -> bool:
    """A card step of the session refused at the APDU level (e.g. 6985 after a card reset): the
    eUICC no longer holds the session, which a new session cures."""
    return failure.kind.startswith("card.sw.") and failure.data.get("step") in (
        CardStep.AUTHENTICATE_SERVER, CardStep.PREPARE_DOWNLOAD)


def _seq_list(loaded: LoadBppResult | None) -> list[int] | None:
    if loaded is None or loaded.notification_seq is None:
        return None
    return [loaded.notification_seq]


@workflow.defn(name=Operation.GET_DOWNLOADABLE_PROFILE_METADATA)
class GetDownloadableProfileMetadataWorkflow(RspSessionWorkflow):
    """Authenticate far enough to see the profile metadata, then cancel with ``postponed``."""

    operation = Operation.GET_DOWNLOADABLE_PROFILE_METADATA

    @workflow.run
    async def run(self, request: GetDownloadableProfileMetadataInput) -> OperationResult:
        return await conclude(self, request.eid, lambda: self._preview(request))

    async def _preview(self, request: GetDownloadableProfileMetadataInput) -> OperationResult:
        card = await card_of(self.context, request.eid)
        target = await resolve_target(card, request.activation_code, None)
        self.phase("authenticating")
        try:
            authenticated = await mutual_authentication(card, self.session, target.server_address,
                                                        target.matching_id, expected_oid=target.smdp_oid,
                                                        on_transaction=self._on_transaction)
        except StepFailed:
            await cancel_session(card, self.session, None, self._progress.transaction_id, cancel_reason(Stop.STEP_FAILED))
            raise
        metadata = authenticated.auth.metadata
        metadata.confirmation_code_required = metadata.confirmation_code_required or target.cc_required
        metadata.solvable_errors = (
            (SolvableErrors.SOLVABLE_ERROR_NEED_POLICY_RULE if metadata.policy_rules else 0)
            | (SolvableErrors.SOLVABLE_ERROR_NEED_CONFIRMATION_CODE if metadata.confirmation_code_required else 0)
        )
        self._progress.metadata = metadata
        outcome = await cancel_session(card, self.session, target.server_address, authenticated.transaction_id,
                                       cancel_reason(Stop.PREVIEW_DONE))
        shown_code = str(ActivationCode.parse(request.activation_code)) if request.activation_code else None
        return OperationResult.success(self.operation, request.eid, {
            "metadata": dataclasses.asdict(metadata), "smdp_address": target.server_address, "cancel": outcome,
            "downloadable_profile": downloadable_profile_json(
                shown_code, request.carrier_name or metadata.service_provider_name, metadata.access_rules),
        })

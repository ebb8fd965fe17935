"""DownloadProfile: one profile from an SM-DP+ onto the eUICC, durable across worker crashes.

Session by session (at most ``MAX_SESSIONS``): authenticate, preview the metadata, wait for the
user where the profile needs it (policy rules without ``is_ppr_allowed``, a confirmation code,
or ``require_user_consent``), PrepareDownload, fetch and install the bound profile package
(``download_install``), deliver the installation result, and optionally enable the profile.

Crash safety: every step is an activity, so a killed worker resumes at the step it was in. The
one step that must not run twice is LoadBoundProfilePackage; its activity looks for the ICCID
on the card before sending anything on a retry, and this body does the same before a new
session. A session that cannot go on is cancelled on the card and at the SM-DP+ with the
reason the DownloadSession machine allows in that phase.
"""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.activities.types import (
        CardStep,
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
    from esimflow.contract import DownloadProfileInput, OperationResult, SolvableErrors
    from esimflow.machines import DownloadSession, Status
    from sgp22.cancel_reasons import Stop, cancel_reason
    from sgp22.es10_enums import CancelSessionReason
    from esimflow.workflows import policies
    from esimflow.workflows.operations.context import OperationContext
    from esimflow.workflows.operations.download_rules import (
        FORGOTTEN_SESSION,
        MAX_CONFIRMATION_CODE_ATTEMPTS,
        install_interrupted,
        notification_seqs,
        session_lost,
    )
    from esimflow.workflows.operations.profiles import switch_to
    from esimflow.workflows.operations.records import deliver_notifications, deliver_one, profiles_on
    from esimflow.workflows.operations.target import Target, resolve_target
    from esimflow.workflows.rsp import Authenticated, cancel_session, mutual_authentication
    from esimflow.workflows.steps import Card, OperationFailed, StepFailed, net_call, together
    from sgp22.errors import ConsentTimeoutError, DownloadRetriesExceededError, UserCancelledError
    from sgp22.result_errors import ConfirmationCodeRetriesExceededError
    from sgp22.results import OhResultCode, WinStatus

MAX_SESSIONS = policies.DOWNLOAD_SESSIONS
PATCH_REFUSED_CODE_ENDS_AT_ONCE = "refused-confirmation-code-ends-at-once"

R = CancelSessionReason


class NewSession(Exception):
    """This session ended without an install; a fresh one may succeed. ``failure``: what ended
    it, reported if no session is left to try."""

    def __init__(self, reason: str, failure: OperationFailed | None = None) -> None:
        super().__init__(reason)
        self.failure = failure


async def download_profile(ctx: OperationContext, request: DownloadProfileInput) -> OperationResult:
    card = await ctx.card(request.eid)
    target = await resolve_target(card, request.activation_code, request.smdp_address)
    return await Download(ctx, request, card, target).run()


class Download:
    """One download's state across its sessions: what was on the card before, the profile the
    SM-DP+ offered, the confirmation codes tried, and the current session's machine."""

    def __init__(self, ctx: OperationContext, request: DownloadProfileInput, card: Card, target: Target) -> None:
        self.ctx, self.request, self.card, self.target = ctx, request, card, target
        self.iccid: str | None = None
        self.iccids_before: set[str] | None = None
        self.code_attempts = 0
        self.forgotten_sessions = 0
        self.session = DownloadSession()
        ctx.prompts.confirmation_code = request.confirmation_code
        self.code_from_request = bool(request.confirmation_code)

    async def run(self) -> OperationResult:
        last: NewSession | None = None
        for attempt in range(1, MAX_SESSIONS + 1):
            self.ctx.progress.session_attempt = attempt
            try:
                return await self.one_session()
            except NewSession as ended:
                last = ended
                workflow.logger.info("download session %d ended (%s)", attempt, ended)
                if attempt < MAX_SESSIONS:
                    await workflow.sleep(timedelta(seconds=2 * attempt))
        if last is not None and last.failure is not None:
            last.failure.data["session_attempts"] = MAX_SESSIONS
            raise last.failure
        raise OperationFailed.of(DownloadRetriesExceededError(f"no download session succeeded in {MAX_SESSIONS} attempts"))

    async def installed_now(self) -> bool:
        if self.iccid is None or self.iccid in (self.iccids_before or set()):
            return False
        return bool(await profiles_on(self.card, self.iccid))

    async def one_session(self) -> OperationResult:
        """One RSP session; a step that failed for a reason another session may not meet (a
        lost RSP session, a server or card that stayed unreachable past the step's retries)
        ends it with a legal cancel and asks for a new one."""
        try:
            return await self.session_steps()
        except asyncio.CancelledError:
            # an operator skipped the download: no RSP session is left open on the card or at
            # the SM-DP+ (the order stays usable)
            if self.session.holds_session:
                await cancel_session(self.card, self.session, self.target.server_address,
                                     self.ctx.progress.transaction_id, cancel_reason(Stop.OPERATOR_SKIPPED))
            raise
        except StepFailed as failure:
            if self.session.holds_session:
                await cancel_session(self.card, self.session, self.target.server_address,
                                     self.ctx.progress.transaction_id, cancel_reason(Stop.STEP_FAILED))
            if failure.kind == FORGOTTEN_SESSION and workflow.patched("forgotten-session-once"):
                self.forgotten_sessions += 1
                if self.forgotten_sessions > 1:
                    raise
                raise NewSession(f"the SM-DP+ forgot the session in {failure.data.get('step')}", failure) from None
            if (failure.retryable and failure.kind != "engine.internal") or session_lost(failure):
                raise NewSession(f"{failure.kind} in {failure.data.get('step')}", failure) from None
            raise

    async def session_steps(self) -> OperationResult:
        if await self.installed_now():  # an earlier session installed it; its answer was lost
            return await self.finish(None, already_installed=True)
        self.session = DownloadSession()
        authenticated = await self.authenticate()
        await self.check_offer(authenticated)
        await self.ask_user(authenticated)
        await self.honour_cancel_request(authenticated)
        package = await self.fetch_package(authenticated)
        return await self.install(authenticated, package)

    async def authenticate(self) -> Authenticated:
        """Mutual authentication; the first session also takes the snapshot of the ICCIDs on the
        card before the download."""
        ctx, session = self.ctx, self.session
        ctx.phase("authenticating")
        try:
            authenticated = await mutual_authentication(
                self.card, session, self.target.server_address, self.target.matching_id,
                expected_oid=self.target.smdp_oid, on_transaction=ctx.on_transaction,
                with_profiles=self.iccids_before is None)
        except StepFailed:
            await cancel_session(self.card, session, None, ctx.progress.transaction_id, cancel_reason(Stop.STEP_FAILED))
            raise
        if authenticated.profiles is not None:
            self.iccids_before = {profile.iccid for profile in authenticated.profiles}
        metadata = authenticated.auth.metadata
        metadata.confirmation_code_required = metadata.confirmation_code_required or self.target.cc_required
        session.cc_required = metadata.confirmation_code_required
        self.iccid = metadata.iccid
        ctx.progress.metadata = metadata
        return authenticated

    async def check_offer(self, authenticated: Authenticated) -> None:
        """Refuse a profile already on the card, or one whose policy rules the eUICC's rules
        authorisation table forbids."""
        metadata = authenticated.auth.metadata
        if metadata.iccid in (self.iccids_before or set()):
            await self.cancel(authenticated, cancel_reason(Stop.PROFILE_ALREADY_ON_CARD))
            raise OperationFailed(f"profile {metadata.iccid} is already on this eUICC", kind="download.iccid_exists",
                                  oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.IccidAlreadyExists)
        if metadata.policy_rules:
            verdict = await self.card.call(CardStep.CHECK_POLICY_RULES,
                                           PolicyRulesStepInput(self.card.ref, authenticated.auth.profile_metadata),
                                           PolicyRulesVerdict)
            if not verdict.allowed:
                outcome = await self.cancel(authenticated, cancel_reason(Stop.POLICY_RULES_NOT_ALLOWED))
                raise OperationFailed("the eUICC's rules authorisation table does not allow this profile's policy rules",
                                      kind="lpa.ppr_not_allowed", oh_result=OhResultCode.RESULT_PPR_NOT_MATCH,
                                      win_status=WinStatus.PolicyViolation, data={"cancel": outcome})

    async def ask_user(self, authenticated: Authenticated) -> None:
        """Consent (policy rules not accepted up front, or ``require_user_consent``), then a
        confirmation code not given with the request."""
        request, prompts, metadata = self.request, self.ctx.prompts, authenticated.auth.metadata
        needs_rules_consent = bool(metadata.policy_rules) and not request.is_ppr_allowed
        metadata.solvable_errors = (
            (SolvableErrors.SOLVABLE_ERROR_NEED_POLICY_RULE if needs_rules_consent else 0)
            | (SolvableErrors.SOLVABLE_ERROR_NEED_CONFIRMATION_CODE
               if metadata.confirmation_code_required and not prompts.confirmation_code else 0)
        )
        if needs_rules_consent or request.require_user_consent:
            self.session.ask_consent()
            answer = await prompts.ask("consent", request.consent_timeout_seconds)
            if answer != "answered":
                await self.user_ended(authenticated, answer)
            if needs_rules_consent and not (prompts.consent and prompts.consent.accept_policy_rules):
                outcome = await self.cancel(authenticated, cancel_reason(Stop.POLICY_RULES_DECLINED))
                raise OperationFailed("the profile's policy rules were not accepted", kind="download.ppr_not_allowed",
                                      oh_result=OhResultCode.RESULT_PPR_FORBIDDEN,
                                      win_status=WinStatus.PolicyViolation, data={"cancel": outcome})
        if metadata.confirmation_code_required:
            self.session.ask_confirmation_code()  # a code given with the request answers at once
            if not prompts.confirmation_code:
                answer = await prompts.ask("confirmation_code", request.consent_timeout_seconds)
                if answer != "answered":
                    await self.user_ended(authenticated, answer, waiting_for_code=True)

    async def fetch_package(self, authenticated: Authenticated) -> GetBppResult:
        """PrepareDownload on the card, then the bound profile package from the SM-DP+."""
        card, metadata, tid = self.card, authenticated.auth.metadata, authenticated.transaction_id
        self.session.prepare()
        self.ctx.phase("preparing download")
        prepare_response = await card.call(
            CardStep.PREPARE_DOWNLOAD,
            PrepareDownloadStepInput(
                card.ref, tid, authenticated.auth.smdp_signed2, authenticated.auth.smdp_signature2,
                authenticated.auth.smdp_certificate,
                self.ctx.prompts.confirmation_code if metadata.confirmation_code_required else None,
            ),
            str,
        )
        await self.honour_cancel_request(authenticated)
        self.ctx.phase("downloading package")
        try:
            package = await net_call(
                NetStep.GET_BOUND_PROFILE_PACKAGE,
                GetBppStepInput(self.target.server_address, tid, prepare_response, authenticated.auth.profile_metadata),
                GetBppResult,
            )
        except StepFailed as failure:
            await self.cancel(authenticated, cancel_reason(Stop.STEP_FAILED))
            if failure.oh_result == OhResultCode.RESULT_CONFIRMATION_CODE_INCORRECT:
                self.code_refused(failure)
            raise
        self.session.receive_package()
        return package

    def code_refused(self, failure: StepFailed) -> None:
        """The SM-DP+ refused the confirmation code: ask again in a new session, or end now (a
        code given up front by a caller that cannot be asked, or too many tries)."""
        self.code_attempts += 1
        refused_up_front, self.code_from_request = self.code_from_request, False
        self.ctx.prompts.confirmation_code = None
        # A caller that gave the code up front and cannot be asked learns at once that it
        # is wrong, instead of the download waiting out the consent timeout.
        if (refused_up_front and not self.request.ask_again_if_code_refused
                and workflow.patched(PATCH_REFUSED_CODE_ENDS_AT_ONCE)):
            return
        if self.code_attempts < MAX_CONFIRMATION_CODE_ATTEMPTS:
            self.ctx.progress.detail = "confirmation code incorrect"
            raise NewSession("confirmation code incorrect", failure) from None
        if workflow.patched(PATCH_REFUSED_CODE_ENDS_AT_ONCE):
            raise OperationFailed.of(ConfirmationCodeRetriesExceededError(
                f"{self.code_attempts} confirmation codes were refused; the download gives up",
                kind="download.confirmation_code_attempts", function="getBoundProfilePackage",
                subject_code="", reason_code=""), data=failure.data) from None

    async def cancel(self, authenticated: Authenticated, reason: CancelSessionReason) -> dict:
        self.ctx.phase("cancelling session", reason.name)
        return await cancel_session(self.card, self.session, authenticated.server_address,
                                    authenticated.transaction_id, reason)

    async def honour_cancel_request(self, authenticated: Authenticated) -> None:
        """A CancelSession forwarded while a step ran takes effect between steps."""
        requested = self.ctx.prompts.cancel_requested
        if requested is None:
            return
        outcome = await self.cancel(authenticated, R(int(requested)))
        raise OperationFailed.of(UserCancelledError("the download was cancelled"),
                                 data={"cancel": outcome, "cancelled_transaction_id": authenticated.transaction_id})

    async def user_ended(self, authenticated: Authenticated, answer: str, *, waiting_for_code: bool = False) -> NoReturn:
        if answer == "timeout":
            outcome = await self.cancel(authenticated, cancel_reason(Stop.NO_ANSWER_IN_TIME))
            question = "confirmation code" if waiting_for_code else "consent"
            raise OperationFailed.of(
                ConsentTimeoutError(f"no {question} from the user in time; the session was cancelled (timeout)",
                                    win_status=WinStatus.ConfirmationCodeMissing if waiting_for_code else None),
                data={"cancel": outcome, "cancelled_transaction_id": authenticated.transaction_id,
                      "solvable_errors": authenticated.auth.metadata.solvable_errors},
            )
        reason = self.ctx.prompts.user_reason()
        outcome = await self.cancel(authenticated, reason)
        raise OperationFailed.of(
            UserCancelledError(f"the user declined the download ({reason.name})"),
            data={"cancel": outcome, "cancelled_transaction_id": authenticated.transaction_id},
        )

    async def install(self, authenticated: Authenticated, package: GetBppResult) -> OperationResult:
        """LoadBoundProfilePackage, its DOWNLOADED record written while the card installs."""
        card, ctx, metadata = self.card, self.ctx, authenticated.auth.metadata

        def record_downloaded():
            return ctx.record_status(card, metadata.iccid, "download", fallback=Status.AVAILABLE)

        if not package.metadata_matches:
            await record_downloaded()
            outcome = await self.cancel(authenticated, cancel_reason(Stop.METADATA_MISMATCH))
            await ctx.record_status(card, metadata.iccid, "abandon", fallback=Status.DOWNLOADED,
                                    error_reason="metadataMismatch")
            raise OperationFailed("the bound profile package does not carry the previewed profile",
                                  kind="lpa.metadata_mismatch", oh_result=OhResultCode.RESULT_SGP_22_OTHER,
                                  win_status=WinStatus.ProfileProcessingError, data={"cancel": outcome})
        self.session.load()
        ctx.phase("installing")
        ctx.progress.segments_total = package.segments
        try:
            # the DOWNLOADED record only has to land before the record of how the installation ended
            loaded, _ = await together(card.call(
                CardStep.LOAD_BOUND_PROFILE_PACKAGE,
                LoadBppStepInput(card.ref, authenticated.transaction_id, package.bound_profile_package,
                                 metadata.iccid),
                LoadBppResult, retry=policies.load_bpp_retry(),
                start_to_close=policies.LOAD_BPP_START_TO_CLOSE, heartbeat=policies.LOAD_BPP_HEARTBEAT,
                recorded_first=True,
            ), record_downloaded())
        except StepFailed as failure:
            # Removed card, transport trouble past the retries, or a card reset (a worker crash
            # drops its PC/SC connection) that took the RSP session with it: the eUICC gave no
            # installation result, so either it installed (answer lost) or nothing is installed
            # and a new session can bind the profile again.
            if await self.installed_now():
                return await self.finish(None, already_installed=True)
            outcome = await self.cancel(authenticated, cancel_reason(Stop.INSTALL_BROKE_OFF))
            await ctx.record_status(card, metadata.iccid, "abandon", fallback=Status.DOWNLOADED,
                                    error_reason=failure.kind)
            raise NewSession(f"{failure.kind} during LoadBoundProfilePackage; cancel: {outcome}", failure) from None
        if loaded.error is not None:
            await self.install_refused(loaded)
        return await self.finish(loaded, already_installed=loaded.already_installed)

    async def install_refused(self, loaded: LoadBppResult) -> NoReturn:
        """The eUICC's installation result is an error: recorded, delivered to the SM-DP+ (so its
        inventory matches the card), then a new session or the failure."""
        error, iccid = loaded.error or {}, self.iccid
        self.session.fail()
        await self.ctx.record_status(self.card, iccid, "abandon", fallback=Status.DOWNLOADED,
                                     error_reason=error.get("kind"))
        notifications = await deliver_notifications(self.card, notification_seqs(loaded))
        failure = OperationFailed(
            error.get("message", "the eUICC refused the profile"),
            kind=error.get("kind", "es10.loadBoundProfilePackage"),
            oh_result=OhResultCode(error.get("oh_result_code", OhResultCode.RESULT_SGP_22_OTHER)),
            win_status=WinStatus(error.get("win_status_code", WinStatus.ProfileProcessingError)),
            data={"iccid": iccid, "notifications": notifications},
        )
        if install_interrupted(loaded):
            raise NewSession(f"installation result {failure.kind} (attempt {loaded.attempt})", failure)
        raise failure

    async def finish(self, loaded: LoadBppResult | None, *, already_installed: bool) -> OperationResult:
        """Record the install, deliver its result, enable the profile if asked to."""
        card, ctx, request, iccid = self.card, self.ctx, self.request, self.iccid
        if self.session.phase == "installing":
            self.session.finish_install()
        ctx.phase("delivering installation result")
        installed = ctx.record_status(card, iccid, "install", fallback=Status.DOWNLOADED)
        if loaded is not None and loaded.pir and loaded.notification_seq is not None and loaded.notification_address:
            notifications: dict = {"delivered": [], "failed": []}
            await together(installed, deliver_one(card, PendingNotificationData(
                loaded.notification_seq, "install", loaded.notification_address, iccid, loaded.pir), notifications))
        else:
            _, notifications = await together(installed, deliver_notifications(card, notification_seqs(loaded)))
        if self.session.phase == "installed" and not notifications["failed"]:
            self.session.notify()
        data = {
            "iccid": iccid,
            "transaction_id": ctx.progress.transaction_id,
            "metadata": dataclasses.asdict(ctx.progress.metadata) if ctx.progress.metadata else None,
            "already_installed": already_installed,
            "session_attempts": ctx.progress.session_attempt,
            "notifications": notifications,
            "enabled": False,
            "carrier_name": request.carrier_name,
        }
        if request.switch_after_download:
            switched = await switch_to(ctx, card, iccid, port=request.port_index,
                                       force_disable=request.force_disable_profile)
            data["enabled"] = switched.ok
            data["switch"] = switched.data
        ctx.phase("done")
        return OperationResult.success(ctx.operation, request.eid, data, message=f"profile {iccid} installed")

"""The shared phase logic of a download (sgp22.download_steps, sgp22.cancel_reasons), with the
vectors of the reference notes (sections 4 and 8): the plain LPA and the engine both follow
these decisions, so a wrong one here is wrong in both."""
from __future__ import annotations

import hashlib

import pytest

from sgp22 import codec, download_steps, es10, tlv
from sgp22.cancel_reasons import (
    CANCEL_REASON_FOR_STOP,
    LEGAL_CANCEL_REASONS,
    Phase,
    Stop,
    cancel_reason,
    legal_cancel_reasons,
)
from sgp22.errors import MalformedDataError, ServerResponseError
from sgp22.es9 import TransactionMismatchError
from sgp22.es10_enums import CancelSessionReason as R
from sgp22.es10_enums import PprIds, flags_to_bits

from tests.protocol.test_protocol_lpa import ICCID, TID, make_bpp, metadata_value

# Where each way of stopping happens in a download: its reason must be legal there.
PHASE_OF_STOP = {
    Stop.PROFILE_ALREADY_ON_CARD: Phase.METADATA_REVIEWED,
    Stop.USER_DECLINED: Phase.AWAITING_CONSENT,
    Stop.NO_ANSWER_IN_TIME: Phase.AWAITING_CONFIRMATION_CODE,
    Stop.CONFIRMATION_CODE_MISSING: Phase.METADATA_REVIEWED,
    Stop.POLICY_RULES_NOT_ALLOWED: Phase.METADATA_REVIEWED,
    Stop.POLICY_RULES_DECLINED: Phase.AWAITING_CONSENT,
    Stop.METADATA_MISMATCH: Phase.PACKAGE_RECEIVED,
    Stop.INSTALL_BROKE_OFF: Phase.INSTALLING,
    Stop.PREVIEW_DONE: Phase.METADATA_REVIEWED,
    Stop.EVENTS_RETRIEVED: Phase.AUTHENTICATED,
    Stop.OPERATOR_SKIPPED: Phase.AWAITING_CONSENT,
    Stop.STEP_FAILED: Phase.PREPARED,
}


def test_reason_numbers_are_the_notes():
    assert {r.name: int(r) for r in R} == {"endUserRejection": 0, "postponed": 1, "timeout": 2, "pprNotAllowed": 3,
                                          "metadataMismatch": 4, "loadBppExecutionError": 5, "undefinedReason": 127}


def test_cancel_session_is_legal_only_while_the_euicc_holds_the_session():
    held = [phase for phase, reasons in LEGAL_CANCEL_REASONS.items() if reasons]
    assert held == [Phase.AUTHENTICATED, Phase.METADATA_REVIEWED, Phase.AWAITING_CONSENT,
                    Phase.AWAITING_CONFIRMATION_CODE, Phase.PREPARED, Phase.PACKAGE_RECEIVED, Phase.INSTALLING]
    assert all(R.undefinedReason in legal_cancel_reasons(phase) for phase in held)


def test_each_reason_belongs_to_its_phase():
    """0-3 answer the metadata, 4 follows getBoundProfilePackage, 5 a broken LoadBPP."""
    answers = {R.endUserRejection, R.postponed, R.timeout, R.pprNotAllowed}
    assert answers <= legal_cancel_reasons("metadata_reviewed")
    assert not answers & legal_cancel_reasons("prepared")
    assert legal_cancel_reasons("package_received") == {R.metadataMismatch, R.undefinedReason}
    assert legal_cancel_reasons("installing") == {R.loadBppExecutionError, R.undefinedReason}


@pytest.mark.parametrize("stop", list(Stop))
def test_every_stop_sends_a_reason_legal_where_it_happens(stop):
    assert cancel_reason(stop) in legal_cancel_reasons(PHASE_OF_STOP[stop])


def test_stops_and_their_reasons():
    assert CANCEL_REASON_FOR_STOP[Stop.USER_DECLINED] == R.endUserRejection
    assert cancel_reason(Stop.NO_ANSWER_IN_TIME) == R.timeout
    assert cancel_reason(Stop.POLICY_RULES_NOT_ALLOWED) == cancel_reason(Stop.POLICY_RULES_DECLINED) == R.pprNotAllowed
    assert cancel_reason(Stop.METADATA_MISMATCH) == R.metadataMismatch
    assert cancel_reason(Stop.INSTALL_BROKE_OFF) == R.loadBppExecutionError


def test_prepare_download_carries_hash_cc_bound_to_the_transaction():
    """hashCc = SHA256(SHA256(CC as UTF-8) || transactionId octets), in PrepareDownloadRequest."""
    request = download_steps.prepare_download_request(TID.hex(), "3000", "5F3700", "3000", "1234")
    assert request.hash_cc == hashlib.sha256(hashlib.sha256(b"1234").digest() + TID).digest()
    encoded = es10.encode_prepare_download(request)
    assert encoded.startswith(bytes.fromhex("BF21")) and tlv.build(0x04, request.hash_cc) in encoded
    assert download_steps.prepare_download_request(TID.hex(), "3000", "5F3700", "3000", None).hash_cc is None


def test_smdp_signed2_must_be_for_this_transaction():
    signed2 = codec.encode("SmdpSigned2", {"transactionId": TID, "ccRequiredFlag": True})
    assert download_steps.check_smdp_signed2(signed2, TID.hex()) is True
    with pytest.raises(TransactionMismatchError):
        download_steps.check_smdp_signed2(signed2, "00" * 16)


@pytest.mark.parametrize("allowed,needed,accepted,stop", [
    (False, False, True, Stop.POLICY_RULES_NOT_ALLOWED),
    (True, True, False, Stop.POLICY_RULES_DECLINED),
    (True, True, True, None),
    (True, False, False, None),
])
def test_policy_rules_stop(allowed, needed, accepted, stop):
    assert download_steps.policy_rules_stop(allowed, consent_needed=needed, accepted=accepted) is stop


def test_package_facts_compare_the_readable_metadata_with_the_offer():
    offered = codec.encode("StoreMetadataRequest", metadata_value())
    facts = download_steps.package_facts(make_bpp(metadata_value()), offered)
    assert (facts.iccid, facts.metadata_matches) == (ICCID, True)
    assert facts.segments == len(es10.bpp_segments(make_bpp(metadata_value())))
    assert download_steps.package_stop(facts) is None
    other = metadata_value(ppr=PprIds.ppr1)
    assert other["profilePolicyRules"] == flags_to_bits(PprIds.ppr1)
    mismatch = download_steps.package_facts(make_bpp(other), offered)
    assert not mismatch.metadata_matches and download_steps.package_stop(mismatch) is Stop.METADATA_MISMATCH


def test_a_package_that_does_not_parse_is_the_servers_final_fault():
    with pytest.raises(ServerResponseError) as raised:
        download_steps.package_facts(bytes.fromhex("BF3603800100"), b"")
    assert raised.value.retryable is False


def test_the_cards_answer_must_be_for_the_sessions_transaction():
    download_steps.check_card_transaction(TID, TID.hex(), "signed")
    with pytest.raises(MalformedDataError, match="prepared transaction 00"):
        download_steps.check_card_transaction(bytes(16), TID.hex(), "prepared")


@pytest.mark.parametrize("smdp_flag,code_flag,required", [(False, False, False), (True, False, True),
                                                          (False, True, True), (True, True, True)])
def test_a_confirmation_code_is_asked_for_when_either_side_says_so(smdp_flag, code_flag, required):
    assert download_steps.confirmation_code_required(smdp_flag, code_flag) is required

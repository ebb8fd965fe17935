"""What free-text masking hides and what it leaves readable: a matching ID put in any field is
masked (alone, glued to an id, inside an activation code whose fields are swapped), while the
identifiers and codes a user needs to read (EIDs, ICCIDs, hex APDUs, timestamps, error kinds)
stay as they are."""
from __future__ import annotations

import io
import logging

import pytest

from sgp22.errors import BadInputError
from sgp22.masking import check_no_secret
from sgp22.masking import MaskingLogFilter, mask_logs, mask_secrets_in
from sgp22.results import OhResultCode, WinStatus

from tests.protocol.test_protocol_identifiers_fuzz import shows

LAB_STYLE = "Q7ZK-4M2P-9XWC-H3TB"  # what the lab SM-DP+ generates
SPEC_STYLE = "JQ-209U6H-6I82J4"  # SGP.22 4.1: 0-9, A-Z and '-'
UNDERSCORED = "K2QX-SECRET-77_X"


@pytest.mark.parametrize("secret", [LAB_STYLE, SPEC_STYLE, UNDERSCORED, "MATCH0123456789"])
@pytest.mark.parametrize("template", [
    "{}", "nickname {} set", "namespace '{}' not found", "DownloadProfile-{}-3f2a", "reader=pcsc:{},",
    "LPA:1$smdp.example.com${}", "LPA:1${}$smdp.example.com", "1$smdp.example.com$MID${}", '{{"reason": "{}"}}',
    "<td>{}</td>",
])
def test_a_matching_id_is_masked_wherever_it_is_written(secret, template):
    masked = mask_secrets_in(template.format(secret))
    assert not shows(secret, masked), masked
    assert secret[:4] + "…" in masked or "…(" in masked


@pytest.mark.parametrize("text", [
    "89049032123451234512345678901235", "8944000000000000019", "894400000000000019F", "BF3E035C015A",
    "at 2026-12-06T21:57:11Z", "error es9.8.2.6/3.8 (PC/SC 0x8010001D)", "RESULT_CONFIRMATION_CODE_INCORRECT",
    "DownloadProfile-89049032123451234512345678901235-3f2a9c1b0d4e", "mig-3f2a9c1b0d4e-dry-run", "$HOME costs $5",
    "ICCID 8944000000000000019 ENABLED -> DISABLED", "Virtual PCD 00 00", "ts48-v2 SGP22 ES9",
    "result RESULT_SGP_22_OTHER (RESULT_OK)",
])
def test_what_a_user_needs_to_read_stays_readable(text):
    assert mask_secrets_in(text) == text


def test_an_activation_code_keeps_its_address_readable_and_known_secrets_are_masked_too():
    assert mask_secrets_in(f"scan LPA:1$smdp.example.com${LAB_STYLE} now") == "scan LPA:1$smdp.example.com$Q7ZK…(19) now"
    assert mask_secrets_in("code 73915528 refused", known=["73915528"]) == "code …(8) refused"


def test_an_identifier_that_would_be_stored_in_plain_text_refuses_a_secret():
    assert check_no_secret("mig-3f2a9c1b0d4e", "migration id") == "mig-3f2a9c1b0d4e"
    for value in (LAB_STYLE, f"fleet-{LAB_STYLE}", f"LPA:1$smdp.example.com${SPEC_STYLE}"):
        with pytest.raises(BadInputError) as refused:
            check_no_secret(value, "migration id")
        assert refused.value.kind == "input.secret_in_identifier"
        assert "migration id" in refused.value.message and not shows(LAB_STYLE, refused.value.message)
        assert not shows(SPEC_STYLE, refused.value.message)


def test_log_records_are_masked_in_their_message_arguments_and_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    mask_logs([handler])
    mask_logs([handler])  # once is enough
    assert sum(isinstance(f, MaskingLogFilter) for f in handler.filters) == 1
    logger = logging.getLogger("tests.masking")
    logger.addHandler(handler)
    try:
        logger.warning("not serving %s: no card", f"pcsc:{LAB_STYLE}")
        try:
            raise ValueError(f"bad namespace {SPEC_STYLE}")
        except ValueError:
            logger.exception("starting failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "not serving pcsc:Q7ZK…(19): no card" in written and "ValueError: bad namespace JQ-2…(16)" in written
    assert not shows(LAB_STYLE, written) and not shows(SPEC_STYLE, written)


def test_every_result_code_and_status_name_stays_readable():
    names = [member.name for enum in (OhResultCode, WinStatus) for member in enum]
    assert [name for name in names if mask_secrets_in(name) != name] == []

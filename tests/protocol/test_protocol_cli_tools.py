"""``esimflow asn1 decode`` and ``esimflow ac parse`` as a user runs them."""
import base64
import json

import pytest
from click.testing import CliRunner

from esimcli.main import main
from sgp22 import codec
from sgp22.identifiers import Iccid

ICCID = Iccid.parse("8949449999999990023")
TID = bytes(range(16))
SIGNATURE = bytes(64)
FAKE_CERT = bytes.fromhex("3003020101")


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def decoded(*args: str, stdin: str | None = None) -> dict:
    result = run("asn1", "decode", *args, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_decode_detects_the_type_and_names_bits_and_results():
    assert decoded("BF280481020780") == {
        "type": "ListNotificationRequest",
        "value": {"profileManagementOperation": ["notificationInstall"]},
    }
    assert decoded("BF3404820205E0")["value"] == {
        "resetOptions": ["deleteOperationalProfiles", "deleteFieldLoadedTestProfiles", "resetDefaultSmdpAddress"]
    }
    assert decoded("BF3103800101") == {"type": "EnableProfileResponse", "value": {"enableResult": "iccidOrAidNotFound"}}
    assert decoded("BF2108A106800101020102")["value"] == {
        "downloadResponseError": {"transactionId": "01", "downloadErrorCode": "invalidSignature"}
    }


def test_decode_reads_stdin_with_whitespace_and_base64():
    assert decoded("-", stdin="BF2B05 A003\n800105\n")["value"] == {"searchCriteria": {"seqNumber": 5}}
    blob = base64.b64encode(bytes.fromhex("BF3E035C015A")).decode()
    assert decoded("--base64", blob) == {"type": "GetEuiccDataRequest", "value": {"tagList": "5A"}}


def test_decode_a_pending_notification_and_a_bound_profile_package():
    notification = codec.encode(
        "OtherSignedNotification",
        {
            "tbsOtherNotification": {
                "seqNumber": 9,
                "profileManagementOperation": (b"\x40", 4),
                "notificationAddress": "smdp.example.com",
                "iccid": ICCID.to_bytes(),
            },
            "euiccNotificationSignature": SIGNATURE,
            "euiccCertificate": FAKE_CERT,
            "eumCertificate": FAKE_CERT,
        },
    )
    document = decoded(notification.hex())
    assert document["type"] == "OtherSignedNotification"
    assert document["value"]["tbsOtherNotification"]["profileManagementOperation"] == ["notificationEnable"]
    assert document["value"]["tbsOtherNotification"]["iccid"] == ICCID.to_bytes().hex().upper()
    assert document["value"]["euiccCertificate"] == "3003020101"

    bpp = codec.encode(
        "BoundProfilePackage",
        {
            "initialiseSecureChannelRequest": {
                "remoteOpId": 1,
                "transactionId": TID,
                "controlRefTemplate": {"keyType": b"\x88", "keyLen": b"\x10", "hostId": b"lab"},
                "smdpOtpk": b"\x04" + bytes(64),
                "smdpSign": SIGNATURE,
            },
            "firstSequenceOf87": [b"\x01"],
            "sequenceOf88": [b"\x02"],
            "sequenceOf86": [b"\x03", b"\x04"],
        },
    )
    document = decoded(bpp.hex())
    assert document["type"] == "BoundProfilePackage"
    assert document["value"]["initialiseSecureChannelRequest"]["remoteOpId"] == "installBoundProfilePackage"
    assert document["value"]["sequenceOf86"] == ["03", "04"]


def test_decode_masks_matching_ids_unless_asked():
    request = codec.encode(
        "AuthenticateServerRequest",
        {
            "serverSigned1": {
                "transactionId": TID,
                "euiccChallenge": bytes(16),
                "serverAddress": "smdp.example.com",
                "serverChallenge": bytes(16),
            },
            "serverSignature1": SIGNATURE,
            "euiccCiPKIdToBeUsed": bytes(20),
            "serverCertificate": FAKE_CERT,
            "ctxParams1": (
                "ctxParamsForCommonAuthentication",
                {"matchingId": "SECRET-MATCHING-ID", "deviceInfo": {"tac": bytes(4), "deviceCapabilities": {}}},
            ),
        },
    )
    result = run("asn1", "decode", request.hex())
    assert result.exit_code == 0
    assert "SECRET-MATCHING-ID" not in result.stdout
    assert "SECR…(18)" in result.stdout
    assert "SECRET-MATCHING-ID" in run("asn1", "decode", "--reveal-secrets", request.hex()).stdout


def test_forced_type_resolves_an_ambiguous_tag():
    assert decoded("BF3003800101")["type"] == "NotificationSentRequest"
    assert decoded("--type", "NotificationSentResponse", "BF3003800101")["value"] == {
        "deleteNotificationStatus": "nothingToDelete"
    }


def test_types_lists_every_decodable_type():
    result = run("asn1", "types")
    assert result.exit_code == 0
    names = result.stdout.split()
    assert "BoundProfilePackage" in names and "EventEntries" in names


@pytest.mark.parametrize(
    "args, stdin, reason",
    [
        (["BF31038001"], None, "truncated"),
        (["BF3E035C015A00"], None, "unexpected byte"),
        (["BF3Z"], None, "not hexadecimal"),
        (["BF3"], None, "odd number"),
        (["-"], "   \n", "no input"),
        (["--base64", "!!!"], None, "not base64"),
        (["0603883700"], None, "no SGP.22 type"),
        (["--type", "NoSuchType", "3000"], None, "unknown SGP.22 type"),
        (["--type", "EUICCInfo1", "BF3E035C015A"], None, "EUICCInfo1"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, stdin, reason):
    result = run("asn1", "decode", *args, stdin=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0]
    assert "Traceback" not in result.stderr


def test_ac_parse_prints_json_with_the_matching_id_masked():
    result = run("ac", "parse", "LPA:1$smdp.example.com:8443$SECRET-MATCHING-ID$2.999.10$1")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "format": "1",
        "smdp_address": "smdp.example.com:8443",
        "matching_id": "SECR…(18)",
        "smdp_oid": "2.999.10",
        "confirmation_code_required": True,
    }
    assert "SECRET-MATCHING-ID" not in result.stdout


def test_ac_parse_reads_stdin():
    result = run("ac", "parse", "-", stdin="LPA:1$smdp.example.com$\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["matching_id"] == ""


@pytest.mark.parametrize(
    "code, kind",
    [
        ("LPA:2$smdp.example.com$SECRET-MATCHING-ID", "input.activation_code.format_version"),
        ("LPA:1$smdp..example.com$SECRET-MATCHING-ID", "input.smdp_address.invalid"),
        ("LPA:1$smdp.example.com$SECRET-MATCHING-ID$$SECRET-CC", "input.activation_code.cc_flag"),
        ("", "input.activation_code.empty"),
    ],
)
def test_ac_parse_bad_code_exits_2_naming_the_defect(code, kind):
    result = run("ac", "parse", code)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and kind in lines[0]
    assert "SECRET" not in result.stderr


TS48_UNIQUE = "/work/shared/reference/ts48/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der"
PIN_0000 = "30303030FFFFFFFF"  # the TS.48 PIN1 value as it sits in the pinCodes element


def test_decode_a_ts48_profile_package_file_keeps_pins_and_keys_out_of_the_output():
    document = decoded("--file", TS48_UNIQUE)
    assert document["type"] == "ProfilePackage"
    assert (document["iccid"], document["efIccid"], document["version"]) == (
        "8949449999999990015", "8949449999999990015", "2.3")
    kinds = [element["kind"] for element in document["elements"]]
    assert kinds[:3] == ["header", "mf", "pukCodes"] and kinds[-1] == "end" and len(kinds) == 30
    assert document["elements"][0]["value"]["iccid"] == "8949449999999990015F"
    pin_codes = document["elements"][3]
    assert pin_codes == {"kind": "pinCodes", "offset": pin_codes["offset"], "length": 78,
                         "value": {"pe-header": {"mandated": None, "identification": 2}},
                         "content": "opaque (--reveal-secrets shows it)"}
    assert PIN_0000 not in json.dumps(document)
    assert PIN_0000 in json.dumps(decoded("--file", TS48_UNIQUE, "--reveal-secrets"))


def test_decode_a_truncated_profile_package_says_where_in_one_line(tmp_path):
    cut = tmp_path / "cut.der"
    cut.write_bytes(open(TS48_UNIQUE, "rb").read()[:5000])
    result = run("asn1", "decode", "--file", str(cut))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: profile element ") and "is cut short" in line

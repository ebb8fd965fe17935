"""The OS-update vendor commands: every OsuStatus outcome, driven through the sgp22.osu client."""
from __future__ import annotations

import os

import pytest

from sgp22 import codec
from sgp22.certs import load_private_key
from sgp22.es10_enums import OsuStatus
from sgp22.osu import OsUpdater, parse_os_image
from carddrivers.local import LocalTransport

from rsplab.euicc import EuiccConfig, Faults, VirtualEuicc, build_os_image
from tests.lab.euicc_kit import SGP26

PAYLOAD = os.urandom(3000)


@pytest.fixture(scope="module")
def eum_key():
    return load_private_key(SGP26 / "EUM" / "SK_EUM_ECDSA_NIST.pem")


def updater(card: VirtualEuicc, **options) -> OsUpdater:
    return OsUpdater(LocalTransport(card), **options)


def test_a_newer_signed_image_updates_the_os(identity, eum_key, tmp_path):
    state = tmp_path / "euicc.json"
    card = VirtualEuicc(identity, state)
    assert updater(card).info().version == (1, 0, 0) and updater(card).info().status is None
    image = build_os_image((1, 1, 0), PAYLOAD, eum_key, label="lab OS")
    assert parse_os_image(image).label == "lab OS"
    assert updater(card, block_size=200).load(image) is OsuStatus.EUICC_UPGRADE_SUCCESSFUL
    info = updater(card).info()
    assert (info.version_text, info.status) == ("1.1.0", OsuStatus.EUICC_UPGRADE_SUCCESSFUL)
    assert updater(card).load(image) is OsuStatus.EUICC_UPGRADE_ALREADY_LATEST
    card.close()
    reloaded = VirtualEuicc(identity, state)
    assert updater(reloaded).info().version == (1, 1, 0)


def test_an_image_not_signed_by_the_eum_fails_before_any_block(identity):
    card = VirtualEuicc(identity)
    forged = build_os_image((2, 0, 0), PAYLOAD, load_private_key(SGP26 / "DPpb" / "SK_S_SM_DPpb_ECDSA_NIST.pem"))
    assert updater(card).load(forged) is OsuStatus.EUICC_UPGRADE_FAILED
    assert updater(card).info().version == (1, 0, 0)


def test_a_payload_that_does_not_match_the_signed_hash_fails(identity, eum_key):
    card = VirtualEuicc(identity)
    image = bytearray(build_os_image((2, 0, 0), PAYLOAD, eum_key))
    image[-1] ^= 0xFF
    assert updater(card).load(bytes(image)) is OsuStatus.EUICC_UPGRADE_FAILED
    assert updater(card).info().status is OsuStatus.EUICC_UPGRADE_FAILED


@pytest.mark.parametrize("faults, outcome", [
    (Faults(osu_unavailable=True), OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE),
    (Faults(osu_fail=True), OsuStatus.EUICC_UPGRADE_FAILED),
])
def test_faults_make_the_update_unavailable_or_fail(identity, eum_key, faults, outcome):
    card = VirtualEuicc(identity, faults=faults)
    assert updater(card).load(build_os_image((2, 0, 0), PAYLOAD, eum_key)) is outcome
    assert updater(card).info().version == (1, 0, 0)


def test_in_progress_while_loading_and_while_the_card_applies_the_image(identity, eum_key):
    card = VirtualEuicc(identity, config=EuiccConfig(osu_apply_polls=2))
    image = parse_os_image(build_os_image((1, 2, 0), PAYLOAD, eum_key))
    client = updater(card)
    begin = client._command(0x3C, 0x00, 0x00, image.header + image.signature, "begin")
    assert begin.status is OsuStatus.EUICC_UPGRADE_IN_PROGRESS
    assert client.info().status is OsuStatus.EUICC_UPGRADE_IN_PROGRESS and client.info().next_block == 0
    assert client.load(image) is OsuStatus.EUICC_UPGRADE_IN_PROGRESS
    assert [client.info().status for _ in range(3)] == [OsuStatus.EUICC_UPGRADE_IN_PROGRESS, OsuStatus.EUICC_UPGRADE_IN_PROGRESS,
                                                         OsuStatus.EUICC_UPGRADE_SUCCESSFUL]
    info2 = codec.decode("EUICCInfo2", _es10(card, bytes.fromhex("BF2200")))
    assert info2["euiccFirmwareVer"] == bytes([1, 2, 0])


def _es10(card, request):
    from sgp22.apdu import IsdrChannel

    with IsdrChannel(LocalTransport(card)) as channel:
        return channel.store_data(request)


def test_blocks_out_of_order_or_without_an_update_are_refused(identity, eum_key):
    card = VirtualEuicc(identity)
    assert card.transmit(bytes.fromhex("803E000003AABBCC"))[-2:] == b"\x69\x85"
    image = parse_os_image(build_os_image((3, 0, 0), PAYLOAD, eum_key))
    begin = bytes([0x80, 0x3C, 0x00, 0x00, len(image.header + image.signature)]) + image.header + image.signature
    assert card.transmit(begin)[-2:] == b"\x90\x00"
    assert card.transmit(bytes.fromhex("803E000503AABBCC"))[-2:] == b"\x6A\x86"
    card.reset()
    assert updater(card).info().status is None  # a reset drops the transfer

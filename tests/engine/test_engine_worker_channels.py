"""A card host takes its cards over at start: the logical channels killed workers left open are
closed (and the log says so), a card on which no session opens fails the start with a clear
error, and so does a host left with no card at all, instead of a worker serving nothing."""
from __future__ import annotations

import logging

import pytest

from esimflow.activities.card_access import CardPool
from esimflow.devices import DeviceNotFoundError, DeviceRegistry
from esimflow.workers.run import WorkerStartError, served_cards
from rsplab.euicc import VirtualEuicc
from sgp22 import es10
from sgp22.apdu import MAX_CHANNEL, IsdrChannel
from sgp22.errors import StatusWordError
from carddrivers.local import LocalTransport


@pytest.fixture
def card(lab_pki):
    euicc = VirtualEuicc(lab_pki.root)
    yield euicc
    euicc.close()


@pytest.fixture
def registry(tmp_path):
    return DeviceRegistry(tmp_path / "devices.sqlite3")


def register_cards(pool, registry, card_host, specs):
    """What a starting worker does: take the cards over, then claim them (only once the start
    cannot fail any more)."""
    devices = served_cards(pool, card_host, specs)
    registry.claim(devices)
    return devices


def _killed_worker_sessions(card, count: int) -> None:
    """What a SIGKILLed worker leaves: a selected ISD-R on a channel nobody will close."""
    for _ in range(count):
        IsdrChannel(LocalTransport(card)).open()


def test_a_starting_worker_closes_the_channels_killed_workers_left_open(card, registry, caplog):
    _killed_worker_sessions(card, MAX_CHANNEL)
    with pytest.raises(StatusWordError):
        IsdrChannel(LocalTransport(card)).open()  # every channel taken: this is the wedge
    pool = CardPool({"lab": card})
    with caplog.at_level(logging.WARNING, logger="esimflow.workers.run"):
        (device,) = register_cards(pool, registry, "host-a", ["local:lab"])
    assert device.eid == card.eid and registry.lookup(card.eid).card_host == "host-a"
    assert f"closed logical channel(s) {', '.join(map(str, range(1, MAX_CHANNEL + 1)))}" in caplog.text
    with pool.session("local:lab", card.eid) as channel:
        assert es10.get_profiles_info(channel) == []
    pool.close()


def test_a_worker_started_after_each_of_many_kills_serves_the_card(card, registry):
    for attempt in range(3 * MAX_CHANNEL):  # each "worker" is killed after it took its session
        pool = CardPool({"lab": card})
        (device,) = register_cards(pool, registry, "host-a", ["local:lab"])
        assert device.eid == card.eid, f"start {attempt}"
        # no pool.close(): the process dies with its channel open


class NoChannelsCard:
    """A card whose MANAGE CHANNEL open always fails (6A81), as a card out of channels that the
    host cannot reclaim (channels held by the modem's own sessions) answers."""

    def __init__(self, card) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == 0x70 and apdu[2] == 0x00:
            return bytes.fromhex("6A81")
        return self.card.transmit(apdu)


def test_a_card_that_opens_no_session_fails_the_start_clearly(card, registry):
    pool = CardPool({"stuck": NoChannelsCard(card), "lab": card})
    with pytest.raises(WorkerStartError) as raised:
        register_cards(pool, registry, "host-b", ["local:lab", "local:stuck"])
    assert "cannot open an ISD-R session on the card in local:stuck" in raised.value.message
    with pytest.raises(DeviceNotFoundError):
        registry.lookup(card.eid)  # nothing half-registered
    pool.close()


def test_a_host_without_any_card_fails_the_start(registry):
    with pytest.raises(WorkerStartError) as raised:
        register_cards(CardPool(), registry, "host-c", ["local:absent"])
    assert "host-c has no eUICC to serve" in raised.value.message and "local:absent" in raised.value.message

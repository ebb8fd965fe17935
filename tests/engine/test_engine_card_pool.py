"""How long a card host holds its cards and what it remembers about them: for the worker's life,
or released once idle so other tools get the reader between operations; a card that refused
255-byte blocks gets 120-byte ones in every later session."""
from __future__ import annotations

import time

from esimflow.activities.card_access import CardHold, CardPool
from rsplab.euicc import EuiccConfig, VirtualEuicc
from sgp22 import es10


def pool_with(card, **options) -> tuple[CardPool, str]:
    pool = CardPool(**options)
    return pool, pool.add_local("card", card)


def test_held_for_the_worker_life(lab_pki):
    with VirtualEuicc(lab_pki.root) as card:
        pool, reader = pool_with(card)
        assert pool.eid_of(reader) == card.eid
        time.sleep(0.3)
        assert pool.is_connected(reader)
        pool.close()
        assert not pool.is_connected(reader)


def test_held_per_operation_the_card_is_released_once_idle(lab_pki):
    with VirtualEuicc(lab_pki.root) as card:
        pool, reader = pool_with(card, hold=CardHold.OPERATION, release_after=0.2)
        with pool.session(reader, card.eid) as isdr:
            es10.get_profiles_info(isdr)
        with pool.session(reader, card.eid) as isdr:  # the next step of the operation: same session
            assert pool.is_connected(reader)
        deadline = time.monotonic() + 5
        while pool.is_connected(reader) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pool.is_connected(reader)
        assert card.transmit(bytes.fromhex("81E2910003BF3E00")) == bytes.fromhex("6881")  # channel 1 closed too
        with pool.session(reader, card.eid) as isdr:  # and the next operation connects again
            assert es10.get_profiles_info(isdr) == []
        pool.close()


def test_released_after_every_step_with_no_idle_time(lab_pki):
    with VirtualEuicc(lab_pki.root) as card:
        pool, reader = pool_with(card, hold=CardHold.OPERATION, release_after=0)
        assert pool.eid_of(reader) == card.eid
        assert not pool.is_connected(reader)


def test_the_block_size_a_card_settled_on_is_kept_for_its_next_sessions(lab_pki):
    with VirtualEuicc(lab_pki.root, config=EuiccConfig(max_store_data_block=120)) as card:
        pool, reader = pool_with(card, hold=CardHold.OPERATION, release_after=0)
        long_request = bytes.fromhex("BF2D81AB5C81A8") + bytes.fromhex("5A4F9F70909192B6B7B8999F2495") * 12
        assert pool.block_size_of(card.eid) == 255
        with pool.session(reader, card.eid) as isdr:
            isdr.store_data(long_request)
        assert pool.block_size_of(card.eid) == 120
        with pool.session(reader, card.eid) as isdr:  # a new connection and ISD-R session
            assert isdr.block_size == 120
        pool.close()


def test_a_reader_spec_sets_the_first_block_size(lab_pki):
    with VirtualEuicc(lab_pki.root) as card:
        pool, reader = pool_with(card)
        with pool.session(f"{reader}?block=120", card.eid) as isdr:
            assert isdr.block_size == 120
        pool.close()


def test_a_worker_never_sweeps_the_channels_of_a_modem(lab_pki):
    """A PC/SC card is the worker's alone, so channels a killed worker left open are closed at
    start; behind a modem the channels may be the modem's own (ISIM, its toolkit): left alone."""
    from rsplab.modem import VirtualModem

    with VirtualEuicc(lab_pki.root) as card, VirtualModem(card) as modem:
        assert card.transmit(bytes.fromhex("0070000001")) == bytes.fromhex("019000")  # the modem's ISIM channel
        pool = CardPool()
        reader = f"at:{modem.device}"
        assert pool.reclaim_channels(reader) == []
        assert pool.eid_of(reader) == card.eid  # served on a channel of its own
        pool.close()
        assert card.transmit(bytes.fromhex("0070800100")) == bytes.fromhex("9000")  # still open until now

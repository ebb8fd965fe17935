"""RSP sessions of the lab SM-DP+: expiry and the one-session-per-profile claim."""
from __future__ import annotations

import pytest

from rsplab.smdp import sessions as sessions_module
from rsplab.smdp.config import load_config
from rsplab.smdp.sessions import SessionStore


EID_A = "89049032000000000000000000000163"
EID_B = "89049032000000000000000000000260"


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(sessions_module.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def store(lab_identities, clock):
    return SessionStore(ttl=60), load_config(lab_identities, port=443).signing_sets[0]


def open_session(store, signing_set):
    return store.open(function_group="es9", server_address="localhost", euicc_challenge=bytes(16),
                      server_challenge=bytes(16), signing_set=signing_set, euicc_ci_pkid=signing_set.ci_pkid)


def test_sessions_expire_after_their_time_to_live(store, clock):
    sessions, signing_set = store
    session = open_session(sessions, signing_set)
    assert sessions.get(session.transaction_id, "es9") is session
    assert sessions.get(session.transaction_id, "es11") is None
    clock[0] += 59
    assert sessions.find(session.transaction_id) is session
    clock[0] += 2
    assert sessions.find(session.transaction_id) is None and len(sessions) == 0


def test_a_profile_claim_ends_with_its_session(store, clock):
    sessions, signing_set = store
    first = open_session(sessions, signing_set)
    first.eid = EID_A
    assert sessions.claim(first, "8949000000000000007", EID_A)
    other = open_session(sessions, signing_set)
    other.eid = EID_B
    assert not sessions.claim(other, "8949000000000000007", EID_B)
    clock[0] += 61
    late = open_session(sessions, signing_set)
    late.eid = EID_B
    assert sessions.claim(late, "8949000000000000007", EID_B)


def test_transaction_ids_are_16_random_bytes(store):
    sessions, signing_set = store
    ids = {open_session(sessions, signing_set).transaction_id for _ in range(50)}
    assert len(ids) == 50 and all(len(t) == 16 for t in ids)

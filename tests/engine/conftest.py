"""The engine tests' lab: one lab SM-DP+ per test module and a fresh virtual eUICC per test
(modules that need another card, e.g. one with a root SM-DS, define their own)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def smdp(lab_pki):
    from rsplab.smdp.server import LabSmdp

    with LabSmdp(lab_pki.root) as server:
        yield server


@pytest.fixture
def card(lab_pki, fresh_eid, tmp_path):
    from rsplab.euicc.card import VirtualEuicc

    with VirtualEuicc(lab_pki.root, tmp_path / "euicc.json", eid=fresh_eid) as euicc:
        yield euicc

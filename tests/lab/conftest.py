"""The lab fixtures every lab test module may ask for by name: the SGP.26 eUICC identity, one
generated PKI for the whole run (read-only), one lab SM-DP+ and LPA client per module, a fresh
soft eUICC per test."""
from __future__ import annotations

from pathlib import Path

import pytest

from rsplab import pki
from rsplab.euicc import EuiccIdentity
from rsplab.smdp.server import LabSmdp

from tests.lab.euicc_kit import SGP26
from tests.lab.test_lab_smdp_kit import LpaClient, SoftEuicc


@pytest.fixture(scope="session")
def identity() -> EuiccIdentity:
    """The SGP.26 test eUICC's identity (read-only)."""
    return EuiccIdentity.from_directory(SGP26)


@pytest.fixture(scope="session")
def lab_identities(tmp_path_factory) -> Path:
    """A generated PKI with three extra eUICCs, shared by the SM-DP+ tests (read-only)."""
    root = tmp_path_factory.mktemp("smdp-pki")
    pki.generate(root)
    pki.add_euiccs(root, count=3)
    return root


@pytest.fixture(scope="module")
def smdp(lab_identities, tmp_path_factory):
    """One lab SM-DP+ (and database) per test module that uses it."""
    with LabSmdp(lab_identities, tmp_path_factory.mktemp("smdp") / "smdp.db") as server:
        yield server


@pytest.fixture(scope="module")
def lpa(smdp):
    client = LpaClient(smdp)
    yield client
    client.close()


@pytest.fixture
def euicc(lab_identities):
    return SoftEuicc.from_dir(lab_identities)

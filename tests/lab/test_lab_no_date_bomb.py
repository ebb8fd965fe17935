"""No date bomb: the SGP.26 DPtls certificates end on 2027-02-06, and a lab loaded with the
SGP.26 set still serves TLS after that date. The download runs in a process whose clock
libfaketime (Debian ``faketime``) has moved past it: OpenSSL in the LPA checks the served
certificate against that clock, and the set's own DPtls certificate is refused there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from sgp22 import certs
from sgp22.certs import Role

from rsplab import pki

from tests.lab.test_lab_smdp_kit import SGP26

REPOSITORY = Path(__file__).resolve().parents[2]
AFTER_THE_SET_EXPIRES = "2027-03-01 12:00:00"


def test_the_sgp26_lab_serves_a_ci_signed_dptls_certificate_valid_now_and_after_2027_02_06():
    identities = pki.load(SGP26)
    assert identities.dptls.certificate.not_valid_after_utc.date().isoformat() == "2027-02-06"
    served = identities.tls_certificate
    assert served.public_key() == identities.dptls.certificate.public_key()
    assert certs.dns_names_of(served) == ["testsmdpplus1.example.com"]
    for moment in (datetime.now(timezone.utc), datetime(2027, 2, 7, tzinfo=timezone.utc),
                   datetime(2054, 12, 31, tzinfo=timezone.utc)):
        certs.verify_server_certificate(served, identities.trusted_cis, Role.DPTLS, at=moment)
    served.verify_directly_issued_by(identities.ci.certificate)


def test_a_generated_pki_serves_its_own_dptls_certificate(tmp_path):
    identities = pki.generate(tmp_path / "pki")
    assert identities.tls_certificate == identities.dptls.certificate
    assert identities.dptls.certificate.not_valid_after_utc >= identities.ci.certificate.not_valid_after_utc


def test_a_tls_download_from_the_sgp26_lab_passes_with_the_clock_past_2027_02_06(tmp_path):
    faketime = shutil.which("faketime")
    assert faketime, "the faketime package (APT_PACKAGES in the Makefile) is not installed"
    done = subprocess.run(
        [faketime, "-m", "--exclude-monotonic", AFTER_THE_SET_EXPIRES, sys.executable, "-m",
         "tests.lab.dated_download", str(tmp_path)],
        cwd=REPOSITORY, env={**os.environ, "TZ": "UTC"}, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["now"].startswith("2027-03-01T12:0")
    assert report["original_dptls_refused"] == "certificate has expired"
    assert report["served_not_after"].startswith("2055-")
    assert (report["installed"], report["pir_delivered"], report["smdp_status"]) == (
        "89000123456789012341", True, "INSTALLED")

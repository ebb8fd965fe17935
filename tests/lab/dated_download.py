"""A TLS download from the SGP.26-loaded lab SM-DP+, run by ``test_lab_no_date_bomb`` in a
process whose clock libfaketime has moved; prints one JSON line of what happened.

``python -m tests.lab.dated_download WORKDIR``
"""
from __future__ import annotations

import asyncio
import json
import ssl
import sys
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from carddrivers.local import LocalTransport
from sgp22 import lpa
from sgp22.apdu import IsdrChannel
from sgp22.es9 import Es9Client, Es9Config

from rsplab import pki
from rsplab.euicc import VirtualEuicc
from rsplab.smdp.server import LabSmdp

from tests.lab.memory_tls import handshake
from tests.lab.test_lab_smdp_kit import SGP26

ICCID = "89000123456789012341"


def handshake_failure(certificate_pem: Path, key_pem: Path, ca_file: Path, server_name: str) -> str | None:
    """Why a TLS client trusting ``ca_file`` refuses a server with this certificate (None: it accepts)."""
    try:
        handshake(certificate_pem, key_pem, ca_file, server_name)
    except ssl.SSLCertVerificationError as error:
        return error.verify_message
    except (ssl.SSLError, AssertionError):  # the server's side of a refused handshake, or no end
        return "handshake did not finish"
    return None


async def main(workdir: Path) -> dict:
    report: dict = {"now": datetime.now(timezone.utc).isoformat()}
    identities = pki.load(SGP26)
    original = workdir / "original-dptls.pem"
    original.write_bytes(identities.dptls.certificate.public_bytes(serialization.Encoding.PEM))
    _, key_pem = identities.export_tls(workdir / "served")
    report["original_dptls_refused"] = handshake_failure(original, key_pem, identities.ca_file,
                                                         identities.tls_names[0])
    with LabSmdp(SGP26, workdir / "smdp.sqlite3") as smdp:
        report["served_not_after"] = smdp.config.tls_certificate.not_valid_after_utc.isoformat()
        code = smdp.add_profile(ICCID, reusable=False)
        isdr = IsdrChannel(LocalTransport(VirtualEuicc(SGP26)), block_size=120).open()
        config = Es9Config(ca_file=smdp.ca_file, connect_overrides=smdp.connect_overrides)
        async with Es9Client(smdp.address, config) as client:
            result = await lpa.download(isdr, client, code)
        report.update(installed=result.iccid, pir_delivered=result.pir_delivered,
                      smdp_status=str(smdp.status(ICCID)))
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))

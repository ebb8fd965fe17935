"""Child process for the durability test: works a durable virtual eUICC until it is killed.

Prints one line per acknowledged step (the card answered), so the parent knows exactly what the
card promised before SIGKILL.
"""
from __future__ import annotations

import sys

from sgp22 import codec
from sgp22.profile_package import encode_iccid

from rsplab.euicc import VirtualEuicc
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for, pir_result


def main(state_path: str, first: int) -> None:
    card = VirtualEuicc(SGP26, state_path)
    lpa, smdp = Lpa(card), Smdp()
    print("READY", flush=True)
    number = first
    while True:
        kind, _ = pir_result(lpa.install(smdp, iccid_for(number), size=1500))
        print(f"INSTALLED {number} {kind}", flush=True)
        enable = codec.encode("EnableProfileRequest", {
            "profileIdentifier": ("iccid", encode_iccid(iccid_for(number))), "refreshFlag": False})
        result = codec.decode("EnableProfileResponse", lpa.es10(enable))["enableResult"]
        print(f"ENABLED {number} {result}", flush=True)
        if number - 2 >= first:
            delete = codec.encode("DeleteProfileRequest", ("iccid", encode_iccid(iccid_for(number - 2))))
            result = codec.decode("DeleteProfileResponse", lpa.es10(delete))["deleteResult"]
            print(f"DELETED {number - 2} {result}", flush=True)
        number += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

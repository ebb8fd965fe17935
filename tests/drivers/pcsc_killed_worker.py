"""Child process for the PC/SC SIGKILL test: starts like a card-host worker on one PC/SC reader
(taking the card over), then stops in the middle of a download (the RSP session open, part of
the bound profile package loaded) until it is killed.

Prints ``SERVING <eid>`` once its start took the card over, then ``MID-DOWNLOAD <channel>`` with
the logical channel it holds; its start's log goes to stderr.
"""
from __future__ import annotations

import logging
import sys
import time

from esimflow.activities.card_access import CardPool
from esimflow.workers.run import served_cards
from tests.lab.euicc_kit import Lpa, Smdp, lpac_pieces

LOADED_PIECES = 4  # InitialiseSecureChannel, ConfigureISDP, the metadata's header and body


def main(reader: str, iccid: str) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = f"pcsc:{reader}"
    pool = CardPool()
    (device,) = served_cards(pool, "host-killed", [spec])
    print("SERVING", device.eid, flush=True)
    smdp = Smdp()
    with pool.session(spec, device.eid) as channel:
        lpa = Lpa(channel=channel)
        download = lpa.prepare(smdp, lpa.authenticate(smdp))
        bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id, iccid=iccid)
        for piece in lpac_pieces(bpp)[:LOADED_PIECES]:
            lpa.es10(piece)
        print("MID-DOWNLOAD", channel.channel, flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

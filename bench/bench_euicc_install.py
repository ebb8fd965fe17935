"""Virtual eUICC CPU time to install a 10, 30 and 100 KB profile (issue 3, item 7).

Only the card's own work is counted: ``time.process_time`` around each ``VirtualEuicc.transmit``,
so building the bound profile package (the SM-DP+'s job) and the LPA's APDU framing stay out.
Each figure is the median of several installs: LoadBoundProfilePackage alone (lpac-style
pieces, 255-byte STORE DATA blocks) and the whole session (challenge, AuthenticateServer,
PrepareDownload, LoadBoundProfilePackage), with the state in memory and in a durable file.

    .venv/bin/python bench/bench_euicc_install.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rsplab.euicc import EuiccConfig, EuiccIdentity, VirtualEuicc  # noqa: E402
from tests.lab.euicc_kit import SGP26, Lpa, Smdp, iccid_for, lpac_pieces, pir_result  # noqa: E402

SIZES_KB = (10, 30, 100)


class CpuMeter:
    """A card wrapper that adds up the CPU time spent inside the card."""

    def __init__(self, card: VirtualEuicc) -> None:
        self.card = card
        self.cpu = 0.0

    def transmit(self, apdu: bytes) -> bytes:
        start = time.process_time()
        try:
            return self.card.transmit(apdu)
        finally:
            self.cpu += time.process_time() - start


def install_once(identity, smdp: Smdp, number: int, size: int, state_path: Path | None) -> tuple[float, float]:
    card = VirtualEuicc(identity, state_path, config=EuiccConfig(capacity=64 * 1024 * 1024))
    meter = CpuMeter(card)
    lpa = Lpa(meter, block_size=255)
    try:
        download = lpa.prepare(smdp, lpa.authenticate(smdp))
        bpp = smdp.bpp(download.prepare_response, transaction_id=download.transaction_id,
                       iccid=iccid_for(number), size=size)
        session_before_load = meter.cpu
        answer = b""
        for piece in lpac_pieces(bpp):
            answer = lpa.es10(piece)
        load = meter.cpu - session_before_load
        if pir_result(answer)[0] != "successResult":
            raise SystemExit(f"install failed: {pir_result(answer)}")
        return load, meter.cpu
    finally:
        card.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    identity, smdp = EuiccIdentity.from_directory(SGP26), Smdp()
    install_once(identity, smdp, 0, 1024, None)  # warm up: ASN.1 compile, imports
    print(f"virtual eUICC CPU time per profile install (median of {args.runs}, time.process_time)")
    print(f"{'profile':>8} {'state':>7} {'LoadBPP ms':>11} {'session ms':>11} {'LoadBPP MB/s':>13}")
    with tempfile.TemporaryDirectory() as scratch:
        for size_kb in SIZES_KB:
            size = size_kb * 1024
            for label in ("memory", "file"):
                loads, sessions = [], []
                for run in range(args.runs):
                    path = Path(scratch) / f"{size_kb}-{run}.json" if label == "file" else None
                    load, session = install_once(identity, smdp, run + 1, size, path)
                    loads.append(load)
                    sessions.append(session)
                load, session = statistics.median(loads), statistics.median(sessions)
                print(f"{size_kb:>6}KB {label:>7} {load * 1000:>11.1f} {session * 1000:>11.1f} "
                      f"{size / load / 1e6 if load else float('inf'):>13.1f}")


if __name__ == "__main__":
    main()

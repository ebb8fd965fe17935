"""Card I/O: the library's download against a 120-byte-block reference client, and the card
phase against raw transmits (issue 15, item 4; targets: whole download at most 0.8x the
reference's wall time, card phase within 1.2x of the raw transmit time of its APDUs).

One lab process holds the lab SM-DP+ (TLS), a virtual eUICC in a vpcd reader (reached through
pcscd and pyscard) and (unless ``--no-modem``) a second virtual eUICC behind the lab's virtual modem
(reached through a pseudo-terminal and pyserial). On each card, in one run, alternately:

- **library**: ``sgp22.lpa.download`` over an ``IsdrChannel`` as the engine opens it (STORE DATA
  blocks of 255 bytes, falling back to 120 where refused);
- **reference**: the same sequence sending 120-byte blocks, one round trip each, as the C LPA
  does (``IsdrChannel(block_size=120)``, no fallback): the same ES9+ client, TLS connection,
  card and profile size, only the block size differs.

Both keep one card connection and one ES9+ client open across downloads; each timed download
installs a new profile, deleted again (notification delivered) outside the timed section.
Per mode: whole download (median, min), the card phase (time inside the ES10 calls), APDUs
sent, and the raw transmit time of those same APDUs: time inside pyscard's
``CardConnection.transmit`` (PC/SC), or inside pyserial's ``write``/``read`` (modem), measured
around each call of the same run. The ratio card phase / raw is the library's own cost per APDU.

    .venv/bin/python bench/bench_card_io.py [--runs 7] [--warmup 1] [--size 30720] [--no-modem]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from carddrivers.at import AtModemTransport
from carddrivers.pcsc import PcscTransport
from sgp22 import es10, lpa
from sgp22.apdu import FALLBACK_BLOCK_SIZE, MAX_BLOCK_SIZE, IsdrChannel
from sgp22.es9 import Es9Client, Es9Config

TARGET_WALL_RATIO = 0.8
TARGET_CARD_RATIO = 1.2
READER_WAIT = 600.0
"""Seconds to wait for the vpcd reader while tests or another lab hold it."""
MODES = {"library": dict(block_size=MAX_BLOCK_SIZE), "reference": dict(block_size=FALLBACK_BLOCK_SIZE,
                                                                        fallback_block_size=None)}


# --- the lab, in its own process -----------------------------------------------------------------


def _serve_lab(state_dir: Path, size: int, with_modem: bool, conn) -> None:
    """The lab process: answers each request with a new profile until told to stop."""
    from rsplab.modem import VirtualModem
    from rsplab.up import Lab, LabOptions, lab_iccid

    with Lab(LabOptions(state_dir=state_dir, vpcd_cards=1, local_cards=1 if with_modem else 0, profiles=0,
                        smdp_port=0, smds_port=0, reader_wait=READER_WAIT)) as lab, contextlib.ExitStack() as stack:
        modem = stack.enter_context(VirtualModem(lab.cards[1].card)) if with_modem else None
        serials = itertools.count(1)
        conn.send({"smdp": lab.smdp.address, "ca_file": lab.smdp.ca_file, "overrides": lab.smdp.connect_overrides,
                   "pcsc": (lab.cards[0].eid, lab.cards[0].reader),
                   "modem": (lab.cards[1].eid, modem.device) if modem else None})
        while conn.recv() == "profile":
            iccid = lab_iccid(next(serials))
            conn.send((iccid, lab.smdp.add_profile(iccid, size=size)))


@dataclass
class LabView:
    smdp_address: str
    es9_config: Es9Config
    cards: dict[str, tuple[str, str]]  # "pcsc"/"modem" -> (EID, reader or device)
    new_profile: Callable[[], tuple[str, str]]


@contextlib.contextmanager
def lab_process(size: int, with_modem: bool) -> Iterator[LabView]:
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    with tempfile.TemporaryDirectory(prefix="bench-card-io-") as state:
        process = context.Process(target=_serve_lab, args=(Path(state), size, with_modem, there), daemon=True)
        process.start()
        try:
            if not here.poll(READER_WAIT + 120):
                raise SystemExit("the lab process did not come up")
            info = here.recv()

            def new_profile() -> tuple[str, str]:
                here.send("profile")
                return here.recv()

            cards = {"pcsc": info["pcsc"], **({"modem": info["modem"]} if info["modem"] else {})}
            yield LabView(info["smdp"], Es9Config(ca_file=info["ca_file"], connect_overrides=info["overrides"]),
                          cards, new_profile)
        finally:
            with contextlib.suppress(OSError):
                here.send("stop")
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join()


# --- timing --------------------------------------------------------------------------------------


class RawClock:
    """Adds up the time spent inside the raw I/O calls of one transport (pyscard's transmit, or
    pyserial's write and read), so the library's own share of the card phase can be told apart."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        return timed


def open_transport(kind: str, target: str, clock: RawClock):
    if kind == "pcsc":
        transport = PcscTransport(target)
        transport.connection.transmit = clock.wrap(transport.connection.transmit)
    else:
        transport = AtModemTransport(target)
        transport.port.write = clock.wrap(transport.port.write)
        transport.port.read = clock.wrap(transport.port.read)
    return transport


class CountingTransport:
    """The transport as the session sees it, counting the APDUs it is given."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self.apdus = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        return self.transport.transmit(apdu)

    def __getattr__(self, name: str):  # close, and a modem's logical channel functions
        return getattr(self.transport, name)


class TimedCard:
    """The ES10 session as ``lpa.download`` sees it, timing the card phase."""

    def __init__(self, isdr: IsdrChannel) -> None:
        self.isdr = isdr
        self.seconds = 0.0

    def store_data(self, request: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return self.isdr.store_data(request)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass
class Figures:
    wall: list[float] = field(default_factory=list)
    card: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    apdus: list[int] = field(default_factory=list)


class CardBench:
    """One card, both modes, one open transport and ES9+ client per mode."""

    def __init__(self, lab: LabView, kind: str) -> None:
        self.lab, self.kind = lab, kind
        self.eid, self.target = lab.cards[kind]
        self.clocks = {mode: RawClock() for mode in MODES}
        self.sessions: dict[str, IsdrChannel] = {}
        self.es9: Es9Client | None = None

    async def __aenter__(self) -> CardBench:
        for mode, options in MODES.items():
            # one connection at a time on a modem port; a PC/SC reader shares its card
            transport = CountingTransport(open_transport(self.kind, self.target, self.clocks[mode]))
            self.sessions[mode] = IsdrChannel(transport, **options)
            if self.kind == "modem":
                break
        self.es9 = Es9Client(self.lab.smdp_address, self.lab.es9_config)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.es9.aclose()
        for session in self.sessions.values():
            session.close()

    def session(self, mode: str) -> IsdrChannel:
        if self.kind == "modem":  # the port is the modem's: reuse it with the mode's block size
            session = next(iter(self.sessions.values()))
            session.block_size = MODES[mode]["block_size"]
            session.fallback_block_size = MODES[mode].get("fallback_block_size", FALLBACK_BLOCK_SIZE)
            return session.open()
        return self.sessions[mode].open()

    async def one(self, mode: str, figures: Figures | None) -> None:
        iccid, code = self.lab.new_profile()
        session = self.session(mode)
        card = TimedCard(session)
        clock = self.clocks[mode] if self.kind == "pcsc" else next(iter(self.clocks.values()))
        raw_before, apdus_before = clock.seconds, session.transport.apdus
        started = time.perf_counter()
        result = await lpa.download(card, self.es9, code)
        wall = time.perf_counter() - started
        if result.iccid != iccid:
            raise SystemExit(f"{self.kind} {mode}: installed {result.iccid}, expected {iccid}")
        if figures is not None:
            figures.wall.append(wall)
            figures.card.append(card.seconds)
            figures.raw.append(clock.seconds - raw_before)
            figures.apdus.append(session.transport.apdus - apdus_before)
        es10.delete_profile(session, iccid=iccid)
        outcomes = await lpa.process_notifications(session, lambda address: Es9Client(address, self.lab.es9_config))
        if any(not outcome.delivered for outcome in outcomes):
            raise SystemExit(f"notifications not delivered: {outcomes}")


def report(kind: str, figures: dict[str, Figures]) -> dict:
    def ms(values) -> str:
        return f"{statistics.median(values) * 1000:7.1f} ms (min {min(values) * 1000:6.1f})"

    print(f"\n{kind}: {len(figures['library'].wall)} timed downloads per mode")
    for mode, found in figures.items():
        apdus = statistics.median(found.apdus)
        card, raw = statistics.median(found.card), statistics.median(found.raw)
        print(f"  {mode:9s} whole {ms(found.wall)}  card phase {ms(found.card)}  APDUs {apdus:4.0f}  "
              f"per APDU {card / apdus * 1e6:5.0f} us (raw {raw / apdus * 1e6:5.0f} us)  card/raw {card / raw:4.2f}")
    library, reference = figures["library"], figures["reference"]
    wall_ratio = statistics.median(library.wall) / statistics.median(reference.wall)
    card_ratio = statistics.median(library.card) / statistics.median(library.raw)
    print(f"  library / reference whole download: {wall_ratio:.2f} (target <= {TARGET_WALL_RATIO}: "
          f"{'met' if wall_ratio <= TARGET_WALL_RATIO else 'MISSED'})")
    print(f"  library card phase / raw transmits: {card_ratio:.2f} (target <= {TARGET_CARD_RATIO}: "
          f"{'met' if card_ratio <= TARGET_CARD_RATIO else 'MISSED'})")
    return {"wall_ratio": wall_ratio, "card_ratio": card_ratio}


async def bench(args) -> None:
    with lab_process(args.size, args.modem) as lab:
        for kind in lab.cards:
            figures = {mode: Figures() for mode in MODES}
            async with CardBench(lab, kind) as card:
                for _ in range(args.warmup):
                    for mode in MODES:
                        await card.one(mode, None)
                for _ in range(args.runs):
                    for mode in MODES:  # alternating, so drift in the machine hits both alike
                        await card.one(mode, figures[mode])
            report(kind, figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--size", type=int, default=30 * 1024, help="profile package bytes (default 30 KB)")
    parser.add_argument("--no-modem", dest="modem", action="store_false",
                        help="only the PC/SC reader, not the lab's virtual modem as well")
    args = parser.parse_args(argv)
    print(f"card I/O bench: {args.size} byte profile, {args.runs} runs per mode after {args.warmup} warm-up",
          file=sys.stderr)
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()

"""The whole lab in one process: the lab SM-DP+, virtual eUICCs in vpcd readers and in-process,
a test PKI made on first use, and profiles waiting to be downloaded.

Everything lives in one state directory (default ``./lab-state``, 0700, its secrets 0600): the
PKI, each eUICC's state file, the SM-DP+ inventory and the admin API's bearer token
(``admin-token``, new at every start), so a lab stopped with Ctrl-C comes back as it was. Run it as
``esimflow lab up`` (which can add Temporal) or ``python -m rsplab.up``. This module knows
nothing of the engine: the lab must be usable by any LPA.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sgp22 import es10, lpa
from sgp22.apdu import IsdrChannel
from sgp22.errors import BadInputError, EsimError
from sgp22.es9 import Es9Client, Es9Config
from sgp22.activation_code import ActivationCode
from sgp22.identifiers import Iccid
from carddrivers.local import LocalTransport

from rsplab import pcscd, pki
from rsplab.euicc import EuiccConfig, VirtualEuicc
from rsplab.euicc.vpcd import VpcdBridge
from rsplab.private_files import private_dir
from rsplab.smdp.admin import DEFAULT_ADMIN_PORT
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus
from sgp22.masking import mask_logs

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("lab-state")
DEFAULT_SMDP_PORT = 8443
ADMIN_TOKEN_FILE = "admin-token"
DEFAULT_SMDS_PORT = 8444
LAB_ICCID_PREFIX = "899990"
"""Country code 999 is unassigned, so a lab ICCID can never be a real operator's."""
_ICCID_SERIAL_DIGITS = 12


@dataclass
class LabOptions:
    state_dir: Path = DEFAULT_STATE_DIR
    vpcd_cards: int = 1
    local_cards: int = 0
    profiles: int = 3
    """Unbound profiles kept AVAILABLE on the SM-DP+ (topped up at every start)."""
    smdp_port: int = DEFAULT_SMDP_PORT
    """Fixed by default so activation codes and the eUICCs' default SM-DP+ stay valid across runs."""
    smds_port: int = DEFAULT_SMDS_PORT
    """The lab SM-DS, the eUICCs' root SM-DS address (fixed by default for the same reason)."""
    admin_port: int | None = None
    """The admin API's own loopback port; by default DEFAULT_ADMIN_PORT, or any free port with
    ``smdp_port=0`` (so parallel labs never collide)."""
    install_first_profile: bool = False
    """Give the first eUICC an installed, enabled profile (a device with working service)."""
    reader_wait: float = 10.0
    """How long to wait for a vpcd reader another lab or test run holds."""

    def validate(self) -> None:
        if not 0 <= self.vpcd_cards <= len(pcscd.VPCD_PORTS):
            raise BadInputError(f"vpcd has {len(pcscd.VPCD_PORTS)} readers: ask for 0..{len(pcscd.VPCD_PORTS)}")
        if self.local_cards < 0 or self.profiles < 0:
            raise BadInputError("card and profile counts cannot be negative")
        if self.vpcd_cards + self.local_cards < 1:
            raise BadInputError("a lab needs at least one eUICC")
        ports = (("SM-DP+", self.smdp_port), ("SM-DS", self.smds_port), ("admin API", self.admin_port_to_use))
        for name, port in ports:
            if not 0 <= port < 65536:
                raise BadInputError(f"{name} port {port} out of range")
        fixed = [port for _, port in ports if port]
        if len(set(fixed)) != len(fixed):
            raise BadInputError("the SM-DP+, the SM-DS and the admin API need different ports")

    @property
    def admin_port_to_use(self) -> int:
        if self.admin_port is not None:
            return self.admin_port
        return DEFAULT_ADMIN_PORT if self.smdp_port else 0


@dataclass
class LabCard:
    card: VirtualEuicc
    reader: str | None = None  # the PC/SC reader name when the card sits in a vpcd reader
    bridge: VpcdBridge | None = field(default=None, repr=False)

    @property
    def eid(self) -> str:
        return self.card.eid


class Lab:
    """A running lab; :meth:`close` (or leaving the ``with`` block) stops all of it."""

    def __init__(self, options: LabOptions) -> None:
        options.validate()
        self.options = options
        self.state_dir = Path(options.state_dir)
        self.pki_dir = self.state_dir / "pki"
        self.admin_token_file = self.state_dir / ADMIN_TOKEN_FILE
        self.smdp: LabSmdp | None = None
        self.cards: list[LabCard] = []
        self._stack = contextlib.ExitStack()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Lab:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        options = self.options
        private_dir(self.state_dir)
        os.chmod(self.state_dir, 0o700)  # the lab's own directory, even when an older run made it 0755
        eids = self._ensure_pki(options.vpcd_cards + options.local_cards)
        self.smdp = LabSmdp(self.pki_dir, self.state_dir / "smdp.sqlite3", port=options.smdp_port,
                            smds_port=options.smds_port, admin_port=options.admin_port_to_use,
                            admin_token_file=self.admin_token_file).start()
        self._stack.callback(self.smdp.stop)
        for eid in eids:
            card = VirtualEuicc(self.pki_dir, self.state_dir / f"euicc-{eid}.json", eid=eid,
                                config=EuiccConfig(default_dp_address=self.smdp.address,
                                                   root_ds_address=self.smdp.smds_address))
            self._stack.callback(card.close)
            self.cards.append(LabCard(card))
        if options.install_first_profile:
            self._install_first_profile(self.cards[0].card)
        self._top_up_profiles(options.profiles)
        if options.vpcd_cards:
            self._insert_into_readers(self.cards[:options.vpcd_cards])

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- parts -----------------------------------------------------------------------------------

    def _ensure_pki(self, count: int) -> list[str]:
        identities = pki.ensure(self.pki_dir)
        eids = identities.all_eids()
        if len(eids) < count:
            pki.add_euiccs(self.pki_dir, count=count - len(eids))
            eids = pki.load(self.pki_dir).all_eids()
        return eids[:count]

    def _insert_into_readers(self, cards: list[LabCard]) -> None:
        handle = pcscd.ensure_pcscd()
        self._stack.callback(handle.stop)
        for card, port in zip(cards, pcscd.VPCD_PORTS):
            reader = self._stack.enter_context(pcscd.vpcd_slot(port, timeout=self.options.reader_wait))
            bridge = VpcdBridge(card.card, port=port).start()
            self._stack.callback(bridge.stop)
            pcscd.wait_for_card(reader, timeout=10.0)
            card.reader, card.bridge = reader, bridge

    def _install_first_profile(self, card: VirtualEuicc) -> None:
        """Download it over real ES9+ and enable it, as a factory or a first-boot LPA would."""
        if card.store.state.profiles:
            return  # the state file already holds it from an earlier run
        code = self.smdp.add_profile(self._next_iccid(), profile_name="Lab first profile")
        config = Es9Config(ca_file=self.smdp.ca_file, connect_overrides=self.smdp.connect_overrides)
        iccid = asyncio.run(install_and_enable(card, code, config))
        log.info("installed and enabled %s on eUICC %s", iccid, card.eid)

    def _top_up_profiles(self, wanted: int) -> None:
        waiting = [p for p in self.smdp.inventory.profiles(ProfileStatus.AVAILABLE) if p.eid is None and p.released]
        for _ in range(wanted - len(waiting)):
            self.smdp.add_profile(self._next_iccid())

    def _next_iccid(self) -> str:
        taken = {profile.iccid for profile in self.smdp.inventory.profiles()}
        serial = len(taken) + 1
        while (iccid := lab_iccid(serial)) in taken:
            serial += 1
        return iccid

    # --- what the operator needs to know ---------------------------------------------------------

    def available_profiles(self) -> list[dict]:
        """Profiles any eUICC can download now, with their activation codes."""
        profiles = [p for p in self.smdp.inventory.profiles(ProfileStatus.AVAILABLE) if p.released]
        return [{"iccid": p.iccid, "activation_code": self.smdp.admin.activation_code(p),
                 "confirmation_code_required": p.cc_required, "eid": p.eid} for p in profiles]

    def summary(self) -> dict:
        return {
            "state_dir": str(self.state_dir.resolve()),
            "smdp": {"address": self.smdp.address, "url": self.smdp.url, "ca_file": str(self.smdp.ca_file),
                     "connect": f"127.0.0.1:{self.smdp.port}", "oid": self.smdp.smdp_oid,
                     "admin": {"url": self.smdp.admin_url, "connect": self.smdp.admin_connect,
                               "token_file": str(self.admin_token_file.resolve())}},
            "smds": {"address": self.smdp.smds_address, "connect": f"127.0.0.1:{self.smdp.smds_port}"},
            "euiccs": [{"eid": c.eid, "reader": c.reader, "in_process": c.reader is None,
                        "state_file": str(c.card.store.path)} for c in self.cards],
            "profiles": self.available_profiles(),
        }


async def install_and_enable(card: VirtualEuicc, activation_code: str, config: Es9Config) -> str:
    """Install the profile behind ``activation_code`` on ``card``, enable it and deliver the
    notifications, so the SM-DP+ sees it ENABLED too. Returns the ICCID."""
    address = ActivationCode.parse(activation_code).smdp_address
    with IsdrChannel(LocalTransport(card)) as isdr:
        async with Es9Client(address, config) as es9:
            installed = await lpa.download(isdr, es9, activation_code)
        es10.enable_profile(isdr, iccid=installed.iccid)
        await lpa.process_notifications(isdr, lambda notification_address: Es9Client(notification_address, config))
    return installed.iccid


def lab_iccid(serial: int) -> str:
    return str(Iccid.with_check_digit(f"{LAB_ICCID_PREFIX}{serial:0{_ICCID_SERIAL_DIGITS}d}"))


def format_summary(summary: dict) -> list[str]:
    smdp = summary["smdp"]
    lines = [
        f"lab state     {summary['state_dir']}",
        f"SM-DP+        {smdp['address']} (listening on {smdp['connect']}, OID {smdp['oid']})",
        f"SM-DS         {summary['smds']['address']} (listening on {summary['smds']['connect']}; "
        "ES11 under /gsma/rsp2/es11 and /gsma/rsp2/es9plus)",
        f"CA file       {smdp['ca_file']}",
        f"admin API     {smdp['admin']['url']} (on {smdp['admin']['connect']}, "
        f"bearer token in {smdp['admin']['token_file']})",
    ]
    for euicc in summary["euiccs"]:
        where = f"reader \"{euicc['reader']}\"" if euicc["reader"] else "in-process"
        lines.append(f"eUICC         {euicc['eid']}  {where}")
    if summary["profiles"]:
        lines.append("activation codes (lab data, matching IDs included):")
        for profile in summary["profiles"]:
            bound = f"  for {profile['eid']}" if profile["eid"] else ""
            code_note = "  (needs a confirmation code)" if profile["confirmation_code_required"] else ""
            lines.append(f"  {profile['iccid']}  {profile['activation_code']}{bound}{code_note}")
    return lines


class StopSignals:
    """SIGINT and SIGTERM set an event instead of raising: the lab runs in threads, the main
    thread only waits. Enter it before announcing the lab, so a Ctrl-C that follows the
    announcement at once still finds the handlers in place."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, lambda *_: self.requested.set())
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def wait(self) -> None:
        self.requested.wait()


def options_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rsplab.up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR, help="state directory")
    parser.add_argument("--vpcd", type=int, default=1, help="eUICCs in vpcd readers")
    parser.add_argument("--local", type=int, default=0, help="in-process eUICCs")
    parser.add_argument("--profiles", type=int, default=3, help="available profiles to keep on the SM-DP+")
    parser.add_argument("--smdp-port", type=int, default=DEFAULT_SMDP_PORT, help="SM-DP+ port (0: any free)")
    parser.add_argument("--smds-port", type=int, default=DEFAULT_SMDS_PORT, help="SM-DS port (0: any free)")
    parser.add_argument("--admin-port", type=int,
                        help=f"admin API port (default {DEFAULT_ADMIN_PORT}, any free one with --smdp-port 0)")
    parser.add_argument("--reader-wait", type=float, default=10.0,
                        help="seconds to wait for a vpcd reader another run holds")
    parser.add_argument("--json", action="store_true", help="print the lab as one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = options_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mask_logs()
    options = LabOptions(state_dir=args.state, vpcd_cards=args.vpcd, local_cards=args.local,
                         profiles=args.profiles, smdp_port=args.smdp_port, smds_port=args.smds_port,
                         admin_port=args.admin_port,
                         reader_wait=args.reader_wait)
    try:
        with Lab(options) as lab, StopSignals() as stop:
            summary = lab.summary()
            print(json.dumps(summary, indent=2) if args.json else "\n".join(format_summary(summary)), flush=True)
            print("lab up; Ctrl-C stops it", file=sys.stderr, flush=True)
            stop.wait()
    except EsimError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    print("lab stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

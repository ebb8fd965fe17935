"""What the virtual eUICC remembers across power cycles, and how it is kept safe on disk.

A real eUICC commits a profile installation or a state change in one atomic step: after a
power cut the profile is either there with its notification or not there at all. The store
gives the same guarantee with one JSON file replaced atomically (temp file, fsync, rename,
fsync of the directory), and every mutation runs in a transaction that either commits as a
whole or leaves the committed state untouched. The RSP session, open channels and partially
received data are volatile on purpose: a reset drops them, as on a card.
"""
from __future__ import annotations

import copy
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

from sgp22.errors import EsimError
from sgp22.es10_enums import NotificationEvent

from rsplab.private_files import private_dir

FORMAT = "esimflow-virtual-euicc/1"

NOTIFICATION_EVENTS = tuple(str(event.name) for event in NotificationEvent)
"""NotificationEvent bit order (bit 0 = install)."""


class StateFileError(EsimError):
    """The state file cannot be used (locked by another eUICC, belongs to another EID, garbled)."""

    kind = "lab.euicc.state"


@dataclass
class NotificationTarget:
    events: list[str]
    address: str


@dataclass
class Profile:
    iccid: str
    """The 10 bytes of the ``5A`` ICCID (EF.ICCID coding) as upper-case hex."""
    isdp_aid: str
    profile_class: int
    service_provider_name: str
    profile_name: str
    enabled: bool = False
    nickname: str | None = None
    icon_type: int | None = None
    icon: str | None = None
    notification_targets: list[NotificationTarget] = field(default_factory=list)
    profile_owner: dict | None = None
    """``{"mccMnc": hex, "gid1": hex?, "gid2": hex?}``"""
    pprs: list[str] = field(default_factory=list)
    """Names of the PprIds bits set: ``pprUpdateControl``, ``ppr1``, ``ppr2``."""
    dp_oid: str | None = None
    size: int = 0
    """Bytes of profile package the profile occupies (counts against the capacity)."""
    ci_pkid: str | None = None
    """The CI whose eUICC certificate the download used; the profile's notifications are signed
    with the same chain."""
    access_rules: list[dict] = field(default_factory=list)
    """The ARA-M rules the profile package installed: ``{"certificate_hash": hex,
    "package_name": str?, "permissions": int}`` (answered as ``refArDo``)."""

    @property
    def iccid_bytes(self) -> bytes:
        return bytes.fromhex(self.iccid)

    @property
    def isdp_aid_bytes(self) -> bytes:
        return bytes.fromhex(self.isdp_aid)

    def targets_for(self, event: str) -> list[str]:
        return [target.address for target in self.notification_targets if event in target.events]


@dataclass
class Notification:
    seq: int
    event: str
    address: str
    iccid: str | None
    der: str
    """The complete pending notification as sent to the server: ``BF37`` PIR or ``30``
    OtherSignedNotification, upper-case hex."""


@dataclass
class EuiccState:
    eid: str
    profiles: list[Profile] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    next_seq: int = 1
    next_isdp_index: int = 0
    default_dp_address: str | None = None
    os_version: str = "010000"
    """Three bytes major/minor/revision, hex: reported as euiccFirmwareVer and by the OSU commands."""
    osu_status: int | None = None
    crls: dict[str, dict] = field(default_factory=dict)
    """Per CI SKI (hex): ``{"number": int, "revoked": [serial hex, ...]}`` from LoadCRL."""

    # --- lookups

    def profile_by_iccid(self, iccid: bytes) -> Profile | None:
        wanted = iccid.hex().upper()
        return next((p for p in self.profiles if p.iccid == wanted), None)

    def profile_by_aid(self, aid: bytes) -> Profile | None:
        wanted = aid.hex().upper()
        return next((p for p in self.profiles if p.isdp_aid == wanted), None)

    def enabled_profile(self) -> Profile | None:
        return next((p for p in self.profiles if p.enabled), None)

    def used_bytes(self) -> int:
        return sum(p.size for p in self.profiles)

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    # --- serialisation

    def to_json(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "EuiccState":
        if not isinstance(data, dict):
            raise StateFileError(f"state file holds a JSON {type(data).__name__}, not a virtual eUICC state object")
        if data.get("format") != FORMAT:
            raise StateFileError(f"state file format {data.get('format')!r}, expected {FORMAT!r}")
        try:
            names = {f.name for f in fields(cls)}
            values = {k: v for k, v in data.items() if k in names}
            values["profiles"] = [
                Profile(**{**p, "notification_targets": [NotificationTarget(**t) for t in p["notification_targets"]]})
                for p in data["profiles"]
            ]
            values["notifications"] = [Notification(**n) for n in data["notifications"]]
            return cls(**values)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise StateFileError(f"state file is not a virtual eUICC state: {type(exc).__name__} {exc}") from exc


class StateStore:
    """Holds the committed state; ``transaction()`` hands out a copy and commits it atomically.

    With a path, the file is locked (fcntl) for as long as the store is open, so two virtual
    eUICCs can never share one state file.
    """

    def __init__(self, path: str | os.PathLike | None, eid: str, *, initial: EuiccState | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock_fd: int | None = None
        if self.path is None:
            self._state = initial or EuiccState(eid=eid)
            return
        private_dir(self.path.parent)
        self._take_lock()
        try:
            self._remove_stale_temps()
            if self.path.exists():
                self._state = self._read()
                if self._state.eid != eid:
                    raise StateFileError(f"state file {self.path} belongs to EID {self._state.eid}, not {eid}")
            else:
                self._state = initial or EuiccState(eid=eid)
                self._write(self._state)
        except BaseException:
            self.close()
            raise

    # --- public

    @property
    def state(self) -> EuiccState:
        """The committed state. Read it; change it only inside :meth:`transaction`."""
        return self._state

    @contextmanager
    def transaction(self) -> Iterator[EuiccState]:
        working = copy.deepcopy(self._state)
        yield working
        if self.path is not None:
            self._write(working)
        self._state = working

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- file handling

    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StateFileError(f"state file {self.path} is in use by another virtual eUICC") from exc
        self._lock_fd = fd

    def _temp_prefix(self) -> str:
        return f".{self.path.name}.tmp-"

    def _remove_stale_temps(self) -> None:
        for stale in self.path.parent.glob(self._temp_prefix() + "*"):
            stale.unlink(missing_ok=True)

    def _read(self) -> EuiccState:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise StateFileError(f"cannot read state file {self.path}: {type(exc).__name__} {exc}") from exc
        return EuiccState.from_json(data)

    def _write(self, state: EuiccState) -> None:
        payload = json.dumps(state.to_json(), indent=1, sort_keys=True).encode("utf-8")
        temp = self.path.with_name(f"{self._temp_prefix()}{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


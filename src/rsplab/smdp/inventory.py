"""The lab SM-DP+'s profile inventory and status history, in one SQLite file.

The server and the admin CLI open the same file (WAL mode, so a CLI command works while the
server runs). Every status change goes through :func:`rsplab.smdp.status.move` (the platform's
ProfileStatus machine) inside
one ``BEGIN IMMEDIATE`` transaction together with its history row, so concurrent sessions and
admin commands never interleave a read and a write of the same profile.

Confirmation codes are kept as SHA-256(code), the "hashed confirmation code" of SGP.22: the
eUICC proves knowledge of the code with hashCc = SHA-256(SHA-256(code) || transactionId), so
the SM-DP+ must hold exactly SHA-256(code) to check it; a salted slow hash of the code would
make hashCc impossible to verify. The code itself is never stored.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sgp22.errors import EsimError
from sgp22.es10_types import AccessRule, OperatorId
from sgp22.secret_text import mask_secret

from rsplab.smdp.profiles import (
    NewProfile,
    Profile,
    StatusChange,
    check_matching_id,
    check_new_profile,
    generate_matching_id,
    mask,
)
from rsplab.private_files import create_private
from rsplab.smdp.inventory_schema import SCHEMA, SCHEMA_VERSION
from rsplab.smdp.status import IllegalStatusChange, ProfileStatus, move, observe

class InventoryError(EsimError):
    kind = "lab.smdp.inventory"


class ProfileNotFoundError(InventoryError):
    kind = "lab.smdp.profile_not_found"


def hash_code(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8")).digest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


_PROFILE_COLUMNS = (
    "iccid, matching_id, cc_hash, cc_failures, cc_retry_limit, eid, profile_class, ppr1, ppr2, released, "
    "reusable, size, service_provider_name, profile_name, icon_type, icon, status, downloaded_eid, "
    "created_at, updated_at"
)


def _profile(row: sqlite3.Row) -> Profile:
    return Profile(
        iccid=row["iccid"], matching_id=row["matching_id"], cc_required=row["cc_hash"] is not None,
        cc_failures=row["cc_failures"], cc_retry_limit=row["cc_retry_limit"], eid=row["eid"],
        profile_class=row["profile_class"], ppr1=bool(row["ppr1"]), ppr2=bool(row["ppr2"]),
        released=bool(row["released"]), reusable=bool(row["reusable"]), size=row["size"],
        service_provider_name=row["service_provider_name"], profile_name=row["profile_name"],
        icon_type=row["icon_type"], icon=row["icon"], status=ProfileStatus(row["status"]),
        downloaded_eid=row["downloaded_eid"], created_at=row["created_at"], updated_at=row["updated_at"],
        cc_hash=row["cc_hash"],
    )


def _shown_iccid(iccid: str) -> str:
    """An ICCID as a message quotes it: whatever else a caller passed (a matching ID) is masked."""
    text = str(iccid)
    return text if text.isascii() and text.isdecimal() and len(text) <= 22 else mask_secret(text)


class Inventory:
    """One SQLite inventory file; safe to share between the server's threads."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            create_private(self.path)  # matching IDs in clear: the owner's eyes only
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        except (sqlite3.Error, OSError) as exc:
            raise InventoryError(f"cannot open inventory {self.path}: {exc}") from None
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._create_schema()
        except (sqlite3.Error, InventoryError) as exc:
            self._db.close()
            if isinstance(exc, InventoryError):
                raise
            raise InventoryError(f"cannot open inventory {self.path}: {exc}") from None

    def _create_schema(self) -> None:
        with self._lock:
            for statement in filter(str.strip, SCHEMA.split(";")):
                self._db.execute(statement)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(found["value"]) != SCHEMA_VERSION:
                raise InventoryError(f"inventory {self.path} has schema {found['value']}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Inventory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- profiles ------------------------------------------------------------------------------

    def add_profile(self, new: NewProfile) -> Profile:
        checked = check_new_profile(new)
        iccid, matching_id = checked.iccid, checked.matching_id
        owner, rules = checked.profile_owner, checked.access_rules
        stamp = now_iso()
        with self._write() as db:
            clash = db.execute("SELECT iccid, matching_id FROM profiles WHERE iccid=? OR matching_id=?",
                               (iccid, matching_id)).fetchone()
            if clash is not None:
                what = f"ICCID {iccid}" if clash["iccid"] == iccid else f"matching ID {mask(matching_id)}"
                raise InventoryError(f"{what} is already in the inventory")
            db.execute(
                f"INSERT INTO profiles ({_PROFILE_COLUMNS}) VALUES ({', '.join('?' * 20)})",
                (iccid, matching_id, hash_code(new.confirmation_code) if new.confirmation_code else None, 0,
                 new.cc_retry_limit, new.eid, new.profile_class, int(new.ppr1), int(new.ppr2), int(new.released),
                 int(new.reusable), checked.size, new.service_provider_name, checked.profile_name, new.icon_type, new.icon,
                 ProfileStatus.AVAILABLE.value, None, stamp, stamp),
            )
            if new.package is not None:
                db.execute("INSERT INTO packages (iccid, der) VALUES (?, ?)", (iccid, bytes(new.package)))
            if owner is not None:
                db.execute("INSERT INTO profile_owners (iccid, mcc_mnc, gid1, gid2) VALUES (?, ?, ?, ?)",
                           (iccid, owner.mcc_mnc, owner.gid1, owner.gid2))
            db.executemany(
                "INSERT INTO access_rules (iccid, position, certificate_hash, package_name, permissions) "
                "VALUES (?, ?, ?, ?, ?)",
                [(iccid, position, rule.certificate_hash, rule.package_name, rule.permissions)
                 for position, rule in enumerate(rules)])
            self._history(db, iccid, "add", None, ProfileStatus.AVAILABLE, reason="activation code generated",
                          eid=new.eid)
        return self.get(iccid)

    def get(self, iccid: str) -> Profile:
        with self._lock:
            row = self._db.execute(f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE iccid=?", (str(iccid),)).fetchone()
        if row is None:
            raise ProfileNotFoundError(f"no profile with ICCID {_shown_iccid(iccid)} in the inventory")
        return _profile(row)

    def package(self, iccid: str) -> bytes | None:
        """The operator's package of a profile, or None when the SM-DP+ generates it."""
        with self._lock:
            row = self._db.execute("SELECT der FROM packages WHERE iccid=?", (str(iccid),)).fetchone()
        return bytes(row["der"]) if row is not None else None

    def profile_owner(self, iccid: str) -> OperatorId | None:
        """The operator the profile belongs to (profileOwner), when the operator gave one."""
        with self._lock:
            row = self._db.execute("SELECT mcc_mnc, gid1, gid2 FROM profile_owners WHERE iccid=?",
                                   (str(iccid),)).fetchone()
        return OperatorId(bytes(row[0]), row[1] and bytes(row[1]), row[2] and bytes(row[2])) if row else None

    def access_rules(self, iccid: str) -> list[AccessRule]:
        """The ARA-M rules the operator gave the profile, in order."""
        with self._lock:
            rows = self._db.execute("SELECT certificate_hash, package_name, permissions FROM access_rules "
                                    "WHERE iccid=? ORDER BY position", (str(iccid),)).fetchall()
        return [AccessRule(bytes(row[0]), row[1], row[2]) for row in rows]

    def find_by_matching_id(self, matching_id: str) -> Profile | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE matching_id=?",
                                   (matching_id,)).fetchone()
        return _profile(row) if row is not None else None

    def waiting_for(self, eid: str) -> list[Profile]:
        """Released AVAILABLE profiles bound to ``eid``: what the default SM-DP+ flow and SM-DS offer."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE eid=? AND status=? AND released=1 ORDER BY created_at",
                (eid, ProfileStatus.AVAILABLE.value)).fetchall()
        return [_profile(row) for row in rows]

    def profiles(self, status: ProfileStatus | str | None = None) -> list[Profile]:
        query = f"SELECT {_PROFILE_COLUMNS} FROM profiles"
        args: tuple = ()
        if status is not None:
            query += " WHERE status=?"
            args = (ProfileStatus(status).value,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at, iccid", args).fetchall()
        return [_profile(row) for row in rows]

    # --- status changes --------------------------------------------------------------------------

    def apply(self, iccid: str, event: str, *, reason: str | None = None, eid: str | None = None,
              expect: ProfileStatus | None = None, handled: tuple[int, str] | None = None,
              observed: bool = False) -> ProfileStatus:
        """Move a profile by ``event`` and record it; raises ``IllegalStatusChange`` (nothing recorded).

        ``observed``: the device reports it made the change (a notification), so a move the
        model refuses is recorded as drift (the refusal in the history's reason), not refused.

        ``expect`` refuses the change unless the profile is still in that status (a session that
        read the profile earlier must not act on a profile an admin changed meanwhile).
        ``handled``: (sequence number, operation) of the notification that reported the event,
        kept in the same transaction (see :meth:`notification_handled`).
        """
        with self._write() as db:
            current = self._status(db, iccid)
            if expect is not None and current != expect:
                raise IllegalStatusChange(f"profile {iccid} is {current} now, not {expect}", current=current,
                                          event=event)
            change = (observe if observed else move)(current, event, reason)
            target = ProfileStatus(change.to_state)
            extra = ""
            args: list = [target.value, now_iso()]
            if event == "download":
                extra, args = ", downloaded_eid=?", [target.value, now_iso(), eid]
            elif target == ProfileStatus.AVAILABLE:
                extra = ", downloaded_eid=NULL"
            db.execute(f"UPDATE profiles SET status=?, updated_at=?{extra} WHERE iccid=?", (*args, iccid))
            if change.drift:
                reason = f"drift: {change.drift}" + (f"; {reason}" if reason else "")
            self._history(db, iccid, change.trigger, change.from_state, change.to_state, reason=reason, eid=eid)
            self._handled(db, iccid, eid, handled)
        return target

    def note(self, iccid: str, event: str, *, error: str | None = None, reason: str | None = None,
             eid: str | None = None, handled: tuple[int, str] | None = None) -> None:
        """Record an event that changed no status (a refused notification, a wrong code, ...)."""
        with self._write() as db:
            current = self._status(db, iccid)
            self._history(db, iccid, event, current, current, reason=reason, error=error, eid=eid)
            self._handled(db, iccid, eid, handled)

    @staticmethod
    def _handled(db: sqlite3.Connection, iccid: str, eid: str | None, handled: tuple[int, str] | None) -> None:
        """Keep a handled notification; an installation result starts the profile's record afresh
        (so a card whose counter started again is not taken for a stale one)."""
        if handled is None or eid is None:
            return
        seq, operation = handled
        if operation == "install":
            db.execute("DELETE FROM notifications WHERE eid=? AND iccid=?", (eid, iccid))
        db.execute("INSERT OR IGNORE INTO notifications VALUES (?,?,?,?,?)", (eid, seq, iccid, operation, now_iso()))

    def _status(self, db: sqlite3.Connection, iccid: str) -> ProfileStatus:
        row = db.execute("SELECT status FROM profiles WHERE iccid=?", (iccid,)).fetchone()
        if row is None:
            raise ProfileNotFoundError(f"no profile with ICCID {_shown_iccid(iccid)} in the inventory")
        return ProfileStatus(row["status"])

    @staticmethod
    def _history(db: sqlite3.Connection, iccid: str, event: str, from_status, to_status, *, reason=None,
                 error=None, eid=None) -> None:
        db.execute(
            "INSERT INTO history (iccid, at, event, from_status, to_status, reason, error, eid) VALUES (?,?,?,?,?,?,?,?)",
            (iccid, now_iso(), event, from_status and str(from_status), to_status and str(to_status), reason, error,
             eid),
        )

    def history(self, iccid: str) -> list[StatusChange]:
        self.get(iccid)
        with self._lock:
            rows = self._db.execute(
                "SELECT iccid, at, event, from_status, to_status, reason, error, eid FROM history "
                "WHERE iccid=? ORDER BY id", (iccid,)).fetchall()
        return [StatusChange(**dict(row)) for row in rows]

    # --- operator actions that are not status changes ------------------------------------------------

    def set_released(self, iccid: str, released: bool = True) -> Profile:
        with self._write() as db:
            current = self._status(db, iccid)
            db.execute("UPDATE profiles SET released=?, updated_at=? WHERE iccid=?", (int(released), now_iso(), iccid))
            self._history(db, iccid, "release" if released else "hold", current, current,
                          reason="released for download" if released else "held back from download")
        return self.get(iccid)

    def reissue(self, iccid: str, *, matching_id: str | None = None, confirmation_code: str | None = None) -> Profile:
        """A new activation code for a profile no device holds (AVAILABLE, DELETED, EXPIRED or
        CANCELED): new matching ID, counter reset, status AVAILABLE."""
        matching_id = check_matching_id(matching_id) if matching_id else generate_matching_id()
        with self._write() as db:
            current = self._status(db, iccid)
            change = move(current, "regenerate_ac", "activation code regenerated")
            target = ProfileStatus(change.to_state)
            if db.execute("SELECT 1 FROM profiles WHERE matching_id=? AND iccid<>?", (matching_id, iccid)).fetchone():
                raise InventoryError(f"matching ID {mask(matching_id)} is already in the inventory")
            db.execute(
                "UPDATE profiles SET status=?, matching_id=?, cc_hash=?, cc_failures=0, downloaded_eid=NULL, "
                "updated_at=? WHERE iccid=?",
                (target.value, matching_id, hash_code(confirmation_code) if confirmation_code else None, now_iso(),
                 iccid))
            self._history(db, iccid, change.trigger, change.from_state, change.to_state, reason=change.reason)
        return self.get(iccid)

    def record_cc_failure(self, iccid: str) -> tuple[int, int]:
        """Count one wrong confirmation code; returns (failures so far, limit). The caller records
        the refusal in the history with the answer it gives."""
        with self._write() as db:
            self._status(db, iccid)
            db.execute("UPDATE profiles SET cc_failures=cc_failures+1, updated_at=? WHERE iccid=?", (now_iso(), iccid))
            row = db.execute("SELECT cc_failures, cc_retry_limit FROM profiles WHERE iccid=?", (iccid,)).fetchone()
        return row["cc_failures"], row["cc_retry_limit"]

    # --- server facts the admin CLI needs (address for activation codes) ----------------------------

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                       (key, value))

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row is not None else None

    # --- eUICCs seen -----------------------------------------------------------------------------

    def remember_euicc(self, eid: str, euicc_certificate: bytes, eum_certificate: bytes) -> None:
        """Keep the certificates an eUICC authenticated with (notifications may come after a restart)."""
        if self.euicc_certificates(eid) == (euicc_certificate, eum_certificate):
            return  # nothing new: spare the disk a synchronous write
        with self._write() as db:
            db.execute(
                "INSERT INTO euiccs VALUES (?,?,?,?) ON CONFLICT(eid) DO UPDATE SET "
                "euicc_certificate=excluded.euicc_certificate, eum_certificate=excluded.eum_certificate, "
                "last_seen=excluded.last_seen", (eid, euicc_certificate, eum_certificate, now_iso()))

    # --- notifications handled, by the eUICC's sequence number, since the profile's installation ----

    def notification_handled(self, eid: str, iccid: str, seq: int, event: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM notifications WHERE eid=? AND iccid=? AND seq=? AND event=?",
                                    (eid, iccid, seq, event)).fetchone() is not None

    def installed_at(self, eid: str, iccid: str) -> int | None:
        """Sequence number of the installation result of the profile's current installation on ``eid``."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM notifications WHERE eid=? AND iccid=? AND event='install'",
                                   (eid, iccid)).fetchone()
        return row[0] if row is not None else None

    def euicc_certificates(self, eid: str) -> tuple[bytes, bytes] | None:
        with self._lock:
            row = self._db.execute("SELECT euicc_certificate, eum_certificate FROM euiccs WHERE eid=?",
                                   (eid,)).fetchone()
        return (row[0], row[1]) if row is not None else None

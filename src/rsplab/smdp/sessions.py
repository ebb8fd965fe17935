"""RSP sessions in progress, and the one-time keys of profiles bound but not yet installed.

Both live in memory, as in an SM-DP+ whose sessions are short-lived: a restart ends every
session (clients see "transactionId unknown" and start again). A profile is claimed by at
most one live session; the same eUICC starting again takes the claim over (a retry after a
lost connection), another eUICC is refused while the claim is live.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from rsplab.smdp.config import SigningSet


@dataclass
class Session:
    transaction_id: bytes
    function_group: str  # "es9" or "es11"
    server_address: str
    euicc_challenge: bytes
    server_challenge: bytes
    signing_set: SigningSet
    euicc_ci_pkid: bytes
    expires_at: float
    # set by authenticateClient
    eid: str | None = None
    euicc_certificate: x509.Certificate | None = None
    iccid: str | None = None
    euicc_signature1: bytes = b""
    profile_metadata: bytes = b""
    smdp_signature2: bytes = b""
    cc_required: bool = False
    cc_refused: bool = False
    """getBoundProfilePackage refused this session's confirmation code (attempts were left)."""
    bpp_euicc_otpk: bytes | None = None
    # set by getBoundProfilePackage
    bound_otpk: bytes | None = None
    bound_package: bytes | None = field(default=None, repr=False)

    @property
    def transaction_id_hex(self) -> str:
        return self.transaction_id.hex().upper()


@dataclass(frozen=True)
class Binding:
    """The key agreement a profile was bound with, kept until the installation result arrives."""

    eid: str
    euicc_otpk: bytes
    smdp_otsk: ec.EllipticCurvePrivateKey = field(repr=False)


class SessionStore:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._sessions: dict[bytes, Session] = {}
        self._claims: dict[str, bytes] = {}
        self._bindings: dict[str, Binding] = {}

    def open(self, **fields) -> Session:
        with self._lock:
            self._expire()
            while True:
                transaction_id = os.urandom(16)
                if transaction_id not in self._sessions:
                    break
            session = Session(transaction_id=transaction_id, expires_at=time.monotonic() + self.ttl, **fields)
            self._sessions[transaction_id] = session
            return session

    def get(self, transaction_id: bytes, function_group: str) -> Session | None:
        with self._lock:
            self._expire()
            session = self._sessions.get(transaction_id)
            return session if session is not None and session.function_group == function_group else None

    def find(self, transaction_id: bytes) -> Session | None:
        with self._lock:
            self._expire()
            return self._sessions.get(transaction_id)

    def close(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.transaction_id, None)
            if session.iccid is not None and self._claims.get(session.iccid) == session.transaction_id:
                del self._claims[session.iccid]

    def claim(self, session: Session, iccid: str, eid: str) -> bool:
        """Give ``iccid`` to ``session``; False when a live session of another eUICC holds it."""
        with self._lock:
            self._expire()
            holder_id = self._claims.get(iccid)
            holder = self._sessions.get(holder_id) if holder_id is not None else None
            if holder is not None and holder is not session:
                if holder.eid != eid:
                    return False
                del self._sessions[holder_id]
            self._claims[iccid] = session.transaction_id
            session.iccid = iccid
            return True

    def bind(self, iccid: str, binding: Binding) -> None:
        with self._lock:
            self._bindings[iccid] = binding

    def binding(self, iccid: str) -> Binding | None:
        with self._lock:
            return self._bindings.get(iccid)

    def unbind(self, iccid: str) -> None:
        with self._lock:
            self._bindings.pop(iccid, None)

    def clear(self) -> None:
        """What a restart of the SM-DP+ does: every session, claim and binding gone."""
        with self._lock:
            self._sessions.clear()
            self._claims.clear()
            self._bindings.clear()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._sessions)

    def _expire(self) -> None:
        now = time.monotonic()
        for transaction_id in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            session = self._sessions.pop(transaction_id)
            if session.iccid is not None and self._claims.get(session.iccid) == transaction_id:
                del self._claims[session.iccid]

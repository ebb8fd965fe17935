"""Who may use the console: operator accounts with scrypt-hashed passwords, or access tokens
from the configuration, each with one of two roles.

The accounts file holds one account a line, ``name role scrypt$n$r$p$salt$hash`` (salt and hash
in hex), written by ``esimflow console account``; the file never holds a password. Tokens come
from the environment (``ESIMFLOW_CONSOLE_TOKEN`` for an operator, ``ESIMFLOW_CONSOLE_VIEWER_TOKEN``
for a viewer), for a console started by automation. Every comparison is constant-time.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sgp22.errors import BadInputError

ENV_ACCOUNTS = "ESIMFLOW_CONSOLE_ACCOUNTS"
ENV_OPERATOR_TOKEN = "ESIMFLOW_CONSOLE_TOKEN"
ENV_VIEWER_TOKEN = "ESIMFLOW_CONSOLE_VIEWER_TOKEN"

# scrypt cost: about 50 ms and 16 MiB per check (RFC 7914's interactive-login figures)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10
MIN_TOKEN_LENGTH = 24
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class Role(StrEnum):
    VIEWER = "viewer"  # reads every page
    OPERATOR = "operator"  # also steers migrations (pause, resume, approve, cancel, concurrency)


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    password_hash: str  # scrypt$n$r$p$salt$hash

    def __repr__(self) -> str:
        return f"Account({self.name!r}, {self.role})"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInputError(f"a console password has at least {MIN_PASSWORD_LENGTH} characters")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=256 * int(n) * int(r) + 2**20)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise BadInputError("an account name is 1 to 64 letters, digits, '_', '.', '@' or '-'")
    return name


class AccountBook:
    """The accounts and tokens the console accepts."""

    def __init__(self, accounts: list[Account], tokens: Mapping[str, Role] | None = None) -> None:
        self._accounts = {account.name: account for account in accounts}
        self._tokens = dict(tokens or {})
        # a check for an unknown name costs as much as one for a known name
        self._decoy = hash_password("decoy-password-never-matches", salt=b"\0" * 16)

    @property
    def empty(self) -> bool:
        return not self._accounts and not self._tokens

    def login(self, name: str, password: str) -> Account | None:
        account = self._accounts.get(name)
        matches = password_matches(password, account.password_hash if account else self._decoy)
        return account if account and matches else None

    def token_login(self, token: str) -> Account | None:
        for known, role in self._tokens.items():
            if hmac.compare_digest(token.encode(), known.encode()):
                return Account(f"token ({role})", role, "")
        return None

    @classmethod
    def load(cls, path: Path | None, env: Mapping[str, str] | None = None) -> AccountBook:
        env = os.environ if env is None else env
        accounts = read_accounts(path) if path is not None else []
        tokens = {}
        for variable, role in ((ENV_OPERATOR_TOKEN, Role.OPERATOR), (ENV_VIEWER_TOKEN, Role.VIEWER)):
            token = env.get(variable)
            if token:
                if len(token) < MIN_TOKEN_LENGTH:
                    raise BadInputError(f"{variable} must be at least {MIN_TOKEN_LENGTH} characters")
                tokens[token] = role
        return cls(accounts, tokens)


def read_accounts(path: Path) -> list[Account]:
    if not path.is_file():
        raise BadInputError(f"no console accounts file at {path}: create one with `esimflow console account`")
    accounts = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[1] not in set(Role) or not parts[2].startswith("scrypt$"):
            raise BadInputError(f"{path}:{number}: expected `name role scrypt$...`")
        accounts.append(Account(check_name(parts[0]), Role(parts[1]), parts[2]))
    return accounts


def write_account(path: Path, name: str, role: Role, password: str) -> None:
    """Add ``name`` to the accounts file, or replace its role and password."""
    check_name(name)
    line = f"{name} {Role(role)} {hash_password(password)}"
    kept = [existing for existing in (path.read_text().splitlines() if path.is_file() else [])
            if existing.split()[:1] != [name]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("\n".join([*kept, line]) + "\n")


class LoginThrottle:
    """Refuses more than ``attempts`` failed logins per ``window`` seconds for one key (an
    account name, a client address): guessing passwords online stays slow whatever scrypt's
    cost on the attacker's side. Kept in memory: a restart forgets it, as it forgets sessions."""

    def __init__(self, attempts: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= self._clock() - self.window:
            failures.popleft()
        return failures

    def blocked(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        failures = self._recent(key)
        return failures[0] + self.window - self._clock() if len(failures) >= self.attempts else 0.0

    def failed(self, key: str) -> None:
        self._recent(key).append(self._clock())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

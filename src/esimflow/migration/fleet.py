"""Reading and validating a fleet file before anything touches a card.

A fleet file lists one device per line, as CSV (with a header) or JSON lines (one object per
line), with the same column names:

- ``eid`` (required): 32 digits with valid check digits;
- ``current_iccid`` (required): the profile enabled now (Luhn check digit);
- ``device`` (optional): where the card is (a registry name, a reader spec, ``host/reader``);
- ``activation_code`` and/or ``target_iccid``: what to migrate to. An activation code downloads
  that profile (``target_iccid``, when given too, is checked against what was downloaded); a
  ``target_iccid`` alone switches to it if it is on the card, else downloads it from the
  eUICC's default SM-DP+. A ``target`` column may hold either.

Every line is checked and every problem reported with its line number, so a 10,000-line file is
fixed in one pass. Activation codes are secrets: no message quotes one.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from esimflow.migration.model import FleetEntry, LineError, mask
from sgp22.errors import BadInputError, EsimError
from sgp22.activation_code import ActivationCode
from sgp22.identifiers import Eid, Iccid
from sgp22.secret_text import activation_code_secrets, mask_secret

COLUMNS = ("eid", "device", "current_iccid", "activation_code", "target_iccid", "target")
_ALIASES = {
    "device_address": "device", "address": "device", "reader": "device",
    "iccid": "current_iccid", "current": "current_iccid",
    "target_activation_code": "activation_code", "ac": "activation_code",
    "target_profile": "target_iccid",
}
MAX_DEVICE_ADDRESS = 256
MAX_FLEET_BYTES = 256 * 1024 * 1024


class FleetFileError(BadInputError):
    """The fleet file as a whole cannot be read (unreadable, not CSV/JSON lines, no header)."""

    kind = "migration.fleet_file"


@dataclass
class Fleet:
    entries: list[FleetEntry]
    errors: list[LineError]
    sha256: str
    format: str  # "csv" | "jsonl"
    lines: int = 0  # device lines seen (valid or not)
    summary: dict = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def fleet_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_fleet(path: str | Path) -> Fleet:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FLEET_BYTES:
            raise FleetFileError(f"{path}: {size} bytes is more than a fleet file may hold ({MAX_FLEET_BYTES})")
        data = path.read_bytes()
    except OSError as error:
        raise FleetFileError(f"{path}: cannot read the fleet file ({error.strerror})") from None
    return parse_fleet(data, path.name)


def parse_fleet(data: bytes, name: str = "fleet") -> Fleet:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FleetFileError(f"{name}: not UTF-8 text") from None
    fmt = _format_of(text, name)
    rows = _jsonl_rows(text) if fmt == "jsonl" else _csv_rows(text, name)
    checker = _Checker()
    for line, row in rows:
        checker.check(line, row)
    checker.refuse_devices_holding_secrets()
    return Fleet(checker.entries, checker.errors, fleet_digest(data), fmt, checker.lines)


def _format_of(text: str, name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    return "jsonl" if first.startswith("{") else "csv"


def _shown_column(name: str) -> str:
    """An unknown column name as messages show it: a secret pasted as a header cell or a JSON
    key (an activation code) is masked like any other."""
    return name if re.fullmatch(r"[A-Za-z][A-Za-z_ -]{0,23}", name) else mask_secret(name)  # IDs have digits


def _column(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(key, key)


def _csv_rows(text: str, name: str):
    lines = [line if not line.lstrip().startswith("#") else "" for line in text.splitlines(keepends=True)]
    reader = csv.reader(io.StringIO("".join(lines)))
    header: list[str] | None = None
    try:
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue
            if header is None:
                header = [_column(cell) for cell in raw]
                unknown = [_shown_column(cell) for cell in header if cell not in COLUMNS]
                if unknown:
                    raise FleetFileError(f"{name} line {reader.line_num}: unknown column(s) {', '.join(unknown)}; "
                                         f"the columns are {', '.join(COLUMNS)}")
                if len(set(header)) != len(header):
                    raise FleetFileError(f"{name} line {reader.line_num}: a column is named twice")
                for required in ("eid", "current_iccid"):
                    if required not in header:
                        raise FleetFileError(f"{name}: the header has no {required} column")
                continue
            if len(raw) > len(header):
                yield reader.line_num, {"__error__": f"{len(raw)} cells, the header names {len(header)}"}
                continue
            yield reader.line_num, dict(zip(header, (cell.strip() for cell in raw)))
    except csv.Error as error:
        raise FleetFileError(f"{name} line {reader.line_num}: not valid CSV ({error})") from None
    if header is None:
        raise FleetFileError(f"{name}: empty fleet file (a CSV fleet starts with a header line)")


def _jsonl_rows(text: str):
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            yield number, {"__error__": "not a JSON object"}
            continue
        if not isinstance(value, dict):
            yield number, {"__error__": "not a JSON object"}
            continue
        row: dict = {}
        for key, item in value.items():
            column = _column(str(key))
            if column not in COLUMNS:
                row.setdefault("__unknown__", []).append(_shown_column(str(key)))
                continue
            if item is not None and not isinstance(item, str):
                row.setdefault("__not_text__", []).append(column)
                continue
            row[column] = (item or "").strip()
        yield number, row


class _Checker:
    def __init__(self) -> None:
        self.entries: list[FleetEntry] = []
        self.errors: list[LineError] = []
        self.lines = 0
        self._eids: dict[str, int] = {}
        self._codes: dict[str, int] = {}
        self._targets: dict[str, int] = {}
        self._code_key: str | None = None
        self._secrets: set[str] = set()  # every field of every activation code in the file

    def _error(self, line: int, column: str, message: str) -> None:
        self.errors.append(LineError(line, column, message))

    def check(self, line: int, row: dict) -> None:
        self.lines += 1
        for value in row.values():
            if isinstance(value, str) and "$" in value:  # also a code inside quotes or brackets
                for secret in activation_code_secrets(value):
                    self._secrets.update(s for s in (secret, *re.split(r"[\s\"'\[\]{},]+", secret)) if len(s) >= 8)
        before = len(self.errors)
        if "__error__" in row:
            self._error(line, "*", row["__error__"])
            return
        for key in row.get("__unknown__", []):
            self._error(line, key, f"unknown column; the columns are {', '.join(COLUMNS)}")
        not_text = row.get("__not_text__", [])
        for column in not_text:
            self._error(line, column, "must be a string")

        eid = None if "eid" in not_text else self._identifier(line, "eid", row.get("eid", ""), Eid)
        current = (None if "current_iccid" in not_text
                   else self._identifier(line, "current_iccid", row.get("current_iccid", ""), Iccid))
        device = row.get("device", "")
        if len(device) > MAX_DEVICE_ADDRESS or any(ord(ch) < 32 for ch in device):
            self._error(line, "device", f"a device address is at most {MAX_DEVICE_ADDRESS} printable characters")
        elif "$" in device:  # shown on status pages: an activation code in this column must not be
            self._error(line, "device", "a device address has no '$' (is an activation code in the wrong column?)")
        self._code_key = None
        code, target = self._target(line, row)

        if eid is not None:
            if eid in self._eids:
                self._error(line, "eid", f"EID {eid} is already on line {self._eids[eid]}")
            else:
                self._eids[eid] = line
        if target is not None:
            if current is not None and target == current:
                self._error(line, "target_iccid", "the target is the current profile")
            elif target in self._targets:
                self._error(line, "target_iccid", f"target ICCID {target} is already on line {self._targets[target]}")
            else:
                self._targets[target] = line
        if code is not None and self._code_key is not None:
            if self._code_key in self._codes:
                self._error(line, "activation_code",
                            f"the same activation code is already on line {self._codes[self._code_key]}")
            else:
                self._codes[self._code_key] = line
        if len(self.errors) == before:
            self.entries.append(FleetEntry(index=len(self.entries), line=line, eid=eid, current_iccid=current,
                                           device=device, target_iccid=target, activation_code=code))

    def refuse_devices_holding_secrets(self) -> None:
        """A device column holding a matching ID of the file (a cell in the wrong column) would
        show it on every status page: such lines are refused once every line is known."""
        kept = []
        lengths = {len(secret) for secret in self._secrets}

        def holds_secret(device: str) -> bool:  # each slice looked up: linear in the fleet, not quadratic
            return any(device[start:start + size] in self._secrets
                       for size in lengths for start in range(len(device) - size + 1))

        for entry in self.entries:
            if holds_secret(entry.device):
                self._error(entry.line, "device", "the device address holds a matching ID of this file "
                                                  "(is a cell in the wrong column?)")
            else:
                kept.append(dataclasses.replace(entry, index=len(kept)))
        self.entries = kept
        self.errors.sort(key=lambda error: error.line)

    def _identifier(self, line: int, column: str, value: str, kind) -> str | None:
        if not value:
            self._error(line, column, "missing")
            return None
        try:
            return str(kind.parse(value))
        except EsimError as error:
            self._error(line, column, error.message)
            return None

    def _target(self, line: int, row: dict) -> tuple[str | None, str | None]:
        code_text = row.get("activation_code", "")
        target_text = row.get("target_iccid", "")
        either = row.get("target", "")
        if either:
            if code_text or target_text:
                self._error(line, "target", "give target, or activation_code/target_iccid, not both")
                return None, None
            if either.upper().startswith("LPA:") or "$" in either:
                code_text = either
            else:
                target_text = either
        if not code_text and not target_text:
            self._error(line, "activation_code", "no target: give an activation code or a target ICCID")
            return None, None
        code = target = None
        if code_text:
            try:
                parsed = ActivationCode.parse(code_text)
            except EsimError as error:
                message = error.message.replace(code_text, mask(code_text).strip("'"))
                self._error(line, "activation_code", message)
            else:
                code = code_text
                # without a matching ID the SM-DP+ serves whatever waits for the EID: the same
                # code on many lines is then legitimate, so only codes with one must be unique
                if parsed.matching_id:
                    self._code_key = f"{str(parsed.smdp_address).lower()}${parsed.matching_id}"
        if target_text:
            target = self._identifier(line, "target_iccid", target_text, Iccid)
        return code, target

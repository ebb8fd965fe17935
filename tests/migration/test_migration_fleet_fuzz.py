"""Fleet files under hostile input: generated CSV and JSON-lines fleets (cells swapped between
columns, activation codes in every column and as header names or JSON keys, deep JSON, wrong
types, control and non-ASCII characters, broken quoting) each end in a fleet with its line
errors or a ``FleetFileError``, never another exception, and no line error, header message or
entry field other than ``activation_code`` holds a matching ID, in plain text, hex or base64 (a
bare token in the device column is a device name, unless it is a matching ID of the file).

Seeded and reproducible (``SEED``); 400 fleets of up to 8 lines in about a second. Outcomes of
the recorded run (seed 5500): fleets with line errors 196, FleetFileError 154 (unknown or
repeated header cells), valid fleets 50; untyped 0, leaks 0.
"""
from __future__ import annotations

import collections
import csv
import io
import json
import random

from esimflow.migration.fleet import COLUMNS, FleetFileError, parse_fleet

from tests.migration.migration_helpers import SMDP, eid, iccid
from tests.protocol.test_protocol_identifiers_fuzz import shows

SEED = 5500
CASES = 400
SECRET = "FLEET-SECRET-MATCH-9Z"
CODE = f"LPA:1${SMDP}${SECRET}"


def _cell(rng: random.Random, number: int):
    return rng.choice([
        eid(number), iccid(number), iccid(number, operator=2), CODE, SECRET, f"LPA:1${SECRET}${SMDP}", "",
        "host/local:card", "x" * 300, "\u00e9\u202e", "\x00", "a,b", '"', "LPA:1$$", 7, None, [CODE], {"a": CODE},
    ])


def _rows(rng: random.Random) -> list[dict]:
    rows = []
    for number in range(1, rng.randrange(1, 9)):
        row = {"eid": eid(number), "current_iccid": iccid(number), "activation_code": f"LPA:1${SMDP}$M-{number}"}
        for _ in range(rng.randrange(0, 3)):
            row[rng.choice([*COLUMNS, "colour", CODE, SECRET])] = _cell(rng, number)
        rows.append(row)
    return rows


def _fleet_bytes(rng: random.Random, rows: list[dict]) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        lines = []
        for row in rows:
            if rng.random() < 0.08:
                lines.append("[" * rng.choice([1000, 100_000]))
            elif rng.random() < 0.05:
                lines.append(json.dumps(list(row.values())))
            else:
                lines.append(json.dumps(row))
        return "\n".join(lines).encode(), "fleet.jsonl"
    header = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        cells = [row.get(key, "") if not isinstance(row.get(key), (list, dict)) else json.dumps(row[key])
                 for key in header]
        if rng.random() < 0.1:
            cells.append(CODE)
        writer.writerow(cells)
    data = text.getvalue()
    if rng.random() < 0.1:
        data = data.replace(",", '"', 1)
    return data.encode(), "fleet.csv"


def test_every_generated_fleet_is_checked_with_typed_errors_that_never_quote_a_secret():
    rng = random.Random(SEED)
    outcomes: collections.Counter = collections.Counter()
    problems = []
    for number in range(CASES):
        data, name = _fleet_bytes(rng, _rows(rng))
        try:
            fleet = parse_fleet(data, name)
        except FleetFileError as error:
            outcomes["FleetFileError"] += 1
            said = error.message
        except Exception as error:  # noqa: BLE001 - anything untyped is the finding
            problems.append((number, name, f"untyped {type(error).__name__}: {error}"))
            continue
        else:
            outcomes["line errors" if fleet.errors else "valid"] += 1
            said = " ".join(f"{e} {e.column}" for e in fleet.errors)
            said += " ".join(f"{e.eid} {e.current_iccid} {e.target_iccid}" for e in fleet.entries)
            if f"${SECRET}" in data.decode(errors="replace"):  # a bare token elsewhere is just a device name
                said += " ".join(e.device for e in fleet.entries)
        if shows(SECRET, said):
            problems.append((number, name, said[:300]))
    print(f"fleet fuzz, seed {SEED}, {CASES} fleets: {dict(sorted(outcomes.items()))}")
    assert not problems, problems[:10]

"""Builders for fleet files and valid identifiers, shared by the migration tests."""
from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import Client

from esimflow.keys import Keyring
from rsplab.pki import eid_with_check_digits
from tests.conftest import TEST_PAYLOAD_KEY

KEYRING = Keyring(TEST_PAYLOAD_KEY)
SMDP = "smdp.migration.test"


def plain_client(client: Client) -> Client:
    """The same server without the codec: what the server stores, as anyone reading it sees it."""
    return Client(client.service_client, namespace=client.namespace)


def luhn(body: str) -> str:
    total = 0
    for position, digit in enumerate(reversed(body)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def eid(number: int) -> str:
    return eid_with_check_digits(f"890490320000000000000{number:09d}")


def iccid(number: int, operator: int = 1) -> str:
    return luhn(f"8944{operator:03d}{number:011d}")


def activation_code(number: int) -> str:
    return f"LPA:1${SMDP}$MIG-SECRET-{number:06d}-QX"


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...] = ("eid", "device", "current_iccid",
                                                                       "activation_code", "target_iccid")) -> Path:
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(str(row.get(column) or "") for column in columns))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path

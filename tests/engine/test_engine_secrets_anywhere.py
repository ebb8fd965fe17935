"""A matching ID typed into a field that is not for it (a nickname, a namespace, a reader or
device name, a migration id, a reason, a search box) never comes back whole, in plain, hex or
base64: not in the CLI's output (even when a layer echoes every input back), not in the logs,
not in the console's pages and exports, not in the history as the Temporal UI decodes it; an id
the server would keep in plain text refuses it up front.

Outcomes of the CLI walk (every verb, the secret in each free-text parameter in turn; main of
2026-12-06): 206 invocations, 65 reaching the (echoing) engine stand-in; exit 2 (usage) 101,
exit 1 66, exit 3 (Temporal unreachable) 38, exit 0 1; leaks 0 (11 with the shape masking off)."""
from __future__ import annotations

import base64
import collections
import dataclasses
import io
import json
import logging

import click
import pytest
from temporalio.api.common.v1 import Payload

from esimcli import operation_cmd
from esimcli.console import ConsoleSettings, create_app
from esimcli.console.accounts import AccountBook
from esimcli.console.sources import Sources
from esimcli.exit_codes import ExitCode
from esimcli.main import main
from esimflow import contract
from esimflow import client as engine_client
from esimflow.activities.card_access import CardPool
from esimflow.codec import AesGcmCodec, Keyring
from esimflow.codec_server import create_app as codec_app
from esimflow.devices import DeviceInfo, DeviceRegistry
from esimflow.history import StatusChange
from esimflow.migration.client import check_migration_id
from esimflow.workers.run import WorkerStartError, served_cards
from sgp22.errors import BadInputError
from sgp22.identifiers import Eid
from sgp22.masking import mask_logs
from sgp22.results import OhResultCode, WinStatus

from tests.conftest import TEST_PAYLOAD_KEY
from tests.console.console_kit import EID_A, OPERATOR, START, iccid, log_in, seed_history, write_accounts
from tests.engine.test_engine_cli import runner  # noqa: F401 - fixture
from tests.engine.test_engine_cli_fuzz import SERVING, leaves
from tests.migration.migration_helpers import write_csv
from tests.protocol.test_protocol_identifiers_fuzz import shows

SECRET = "Q7ZK-4M2P-9XWC-H3TB"
EID = "89049032000000000000000000000163"
ICCID = "8944000000000000019"


class EchoingEngine:
    """The engine stand-in at its most careless: every failure message quotes the whole input."""

    def __init__(self) -> None:
        self.reached = 0

    def driver(self, connection, *, display, responder, timeout):
        engine = self

        class _Driver:
            def run(self, op_input):
                engine.reached += 1
                echoed = json.dumps(dataclasses.asdict(op_input), default=str)
                return contract.OperationResult.failure(
                    contract.operation_name(op_input), getattr(op_input, "eid", ""),
                    oh_result=OhResultCode.RESULT_SGP_22_OTHER, win_status=WinStatus.Other,
                    error_kind="test.echo", message=f"refused {echoed}", data={"input": echoed})

        return _Driver()


@pytest.fixture
def echoing(monkeypatch, tmp_path) -> EchoingEngine:
    engine = EchoingEngine()
    monkeypatch.setattr(operation_cmd, "OperationDriver", engine.driver)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("ESIMFLOW_HISTORY", str(tmp_path / "history.sqlite3"))
    monkeypatch.setenv("ESIMFLOW_MIGRATIONS", str(tmp_path / "migrations.sqlite3"))
    monkeypatch.chdir(tmp_path)
    return engine


def _free_text(param: click.Parameter) -> bool:
    return not isinstance(param.type, (click.Choice, click.IntRange, click.FloatRange, click.Path, click.File)) \
        and param.type not in (click.INT, click.FLOAT, click.BOOL) \
        and not (isinstance(param, click.Option) and param.is_flag)


def _plausible(param: click.Parameter) -> str:
    name = param.name or ""
    return EID if "eid" in name else ICCID if "iccid" in name else "value"


def test_no_verb_prints_a_matching_id_put_in_any_free_text_parameter(runner, echoing):  # noqa: F811
    invocations, leaks, exits = 0, [], collections.Counter()
    for path, command in leaves(main):
        if path in SERVING:
            continue
        params = [p for p in command.params if p.name != "help"]
        for target in (p for p in params if _free_text(p)):
            args = path.split()
            for param in params:
                value = SECRET if param is target else _plausible(param)
                if isinstance(param, click.Argument) and (param.required or param is target):
                    args.append(value)
                elif isinstance(param, click.Option) and param is target:
                    args += [param.opts[0], value]
                elif isinstance(param, click.Option) and not param.is_flag and (param.required or param.name == "eid"):
                    args += [param.opts[0], value]
            result = runner.invoke(main, args, input="")
            invocations += 1
            output = result.output + (result.stderr if result.stderr_bytes is not None else "")
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                leaks.append((args, f"{type(result.exception).__name__}: {result.exception}"))
            if shows(SECRET, output):
                leaks.append((args, output[:300]))
            exits[result.exit_code] += 1
    print(f"secret walk: {invocations} invocations, {echoing.reached} reached the engine, {len(leaks)} leaks, "
          f"exit codes {dict(sorted(exits.items()))}")
    assert invocations > 100 and echoing.reached > 10
    assert not leaks, leaks[:5]


def test_a_nickname_that_is_a_matching_id_is_masked_in_what_the_engine_echoes(runner, echoing):  # noqa: F811
    result = runner.invoke(main, ["nickname", "--eid", EID, ICCID, SECRET, "--json"])
    assert result.exit_code == ExitCode.OPERATION_FAILED, result.output
    document = json.loads(result.stdout)
    assert "Q7ZK…(19)" in document["error"]["message"] and not shows(SECRET, result.output)


def test_a_migration_id_holding_a_matching_id_is_refused_before_anything_starts(runner, echoing, tmp_path):  # noqa: F811
    fleet = write_csv(tmp_path / "fleet.csv", [{"eid": EID, "device": "phone-1", "current_iccid": ICCID,
                                                "activation_code": "LPA:1$smdp.example.com$TARGET-1"}])
    result = runner.invoke(main, ["migrate", "start", "--id", f"fleet-{SECRET}", str(fleet)])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "migration id" in result.output and not shows(SECRET, result.output)
    with pytest.raises(BadInputError) as refused:
        check_migration_id(SECRET)
    assert refused.value.kind == "input.secret_in_identifier"


def test_a_matching_id_in_any_column_of_a_fleet_file_is_masked_in_its_line_errors(runner, echoing, tmp_path):  # noqa: F811
    eids = [str(Eid.with_check_digits(f"89049032{number:022d}")) for number in range(5)]
    rows = [{"eid": SECRET, "device": "phone-1", "current_iccid": ICCID, "target_iccid": ICCID},
            {"eid": eids[1], "device": SECRET, "current_iccid": "8944", "target_iccid": ICCID},
            {"eid": eids[2], "device": "phone-3", "current_iccid": SECRET, "target_iccid": ICCID},
            {"eid": eids[3], "device": "phone-4", "current_iccid": ICCID, "target_iccid": SECRET},
            {"eid": eids[4], "device": "phone-5", "current_iccid": ICCID, "activation_code": f"LPA:1${SECRET}$x.example"}]
    for extra in ([], ["--json"]):
        result = runner.invoke(main, ["migrate", "start", str(write_csv(tmp_path / "fleet.csv", rows)), *extra])
        assert result.exit_code == ExitCode.USAGE, result.output
        assert not shows(SECRET, result.output), result.output
    assert {error["line"] for error in json.loads(result.stdout)["line_errors"]} == {2, 3, 4, 5, 6}


def test_a_worker_refuses_a_card_host_name_holding_a_matching_id_before_it_connects(runner, echoing):  # noqa: F811
    result = runner.invoke(main, ["worker", "--card-host", SECRET, "--reader", "local:lab"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "card host name" in result.output and not shows(SECRET, result.output)


async def test_an_operation_id_or_device_holding_a_matching_id_never_becomes_a_workflow_id():
    class NoServer:
        def __getattr__(self, name):
            raise AssertionError(f"the server was reached ({name})")

    for op_input, operation_id in ((contract.GetEidInput(device=EID), f"retry-{SECRET}"),
                                   (contract.GetEidInput(device=f"pcsc:{SECRET}"), None),
                                   (contract.ListProfilesInput(eid=SECRET), None)):
        with pytest.raises(BadInputError) as refused:
            await engine_client.start_operation(NoServer(), op_input, operation_id=operation_id)
        assert refused.value.kind == "input.secret_in_identifier" and not shows(SECRET, refused.value.message)


def test_a_worker_logs_a_reader_named_like_a_matching_id_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    mask_logs([handler])
    logger = logging.getLogger("esimflow.workers.run")
    logger.addHandler(handler)
    try:
        with pytest.raises(WorkerStartError) as failed:
            served_cards(CardPool(), f"host-{SECRET}", [f"local:{SECRET}"])
    finally:
        logger.removeHandler(handler)
    assert "not serving local:Q7ZK…(19)" in stream.getvalue() and not shows(SECRET, stream.getvalue())
    assert "local:Q7ZK…(19)" in failed.value.message and not shows(SECRET, failed.value.message)


def test_the_console_never_shows_a_matching_id_put_in_a_name_a_reason_or_a_search(tmp_path):
    history = seed_history(tmp_path / "history.sqlite3", profiles=4)
    history.record(StatusChange(iccid=iccid(1), from_status="ENABLED", to_status="ENABLED", operation="Switch",
                                at=START.replace(hour=20), eid=EID_A, workflow_id="switch-1",
                                error_reason=f"refused {SECRET}"))
    history.close()
    DeviceRegistry(tmp_path / "devices.sqlite3").claim([DeviceInfo(
        eid=EID_A, card_host=f"host-{SECRET}", reader=f"pcsc:{SECRET}", name=SECRET)])
    sources = Sources(history=str(tmp_path / "history.sqlite3"), migrations=None,
                      registry=tmp_path / "devices.sqlite3", lab_inventory=None)
    settings = ConsoleSettings(sources=sources, accounts=AccountBook.load(write_accounts(tmp_path / "accounts")),
                               temporal=None, session_secret="test-secret-" + "x" * 20)
    from starlette.testclient import TestClient

    with TestClient(create_app(settings), base_url="https://testserver", follow_redirects=False) as client:
        log_in(client, *OPERATOR)
        pages = ["/devices", f"/devices/{EID_A}", f"/fleet?operator={SECRET}", f"/fleet?smdp={SECRET}",
                 f"/logs?operation={SECRET}", "/logs?errors=1", "/logs.csv", f"/profiles/{iccid(1)}"]
        for path in pages:
            answer = client.get(path)
            assert answer.status_code in (200, 400), (path, answer.status_code)
            assert not shows(SECRET, answer.text), (path, answer.text[:500])
        assert "Q7ZK…(19)" in client.get("/devices").text  # masked, not dropped


async def test_the_history_as_the_temporal_ui_decodes_it_shows_no_matching_id_from_any_field():
    import httpx

    codec = AesGcmCodec(Keyring(TEST_PAYLOAD_KEY))
    inputs = [contract.SetNicknameInput(eid=EID, iccid=ICCID, nickname=SECRET),
              contract.SkipRequest(reason=f"operator: stuck on {SECRET}"),
              {"message": f"the SM-DP+ refused LPA:1${SECRET}$smdp.example.com"}]
    sealed = [codec.encrypt(Payload(metadata={"encoding": b"json/plain"},
                                    data=json.dumps(dataclasses.asdict(i) if dataclasses.is_dataclass(i) else i)
                                    .encode())) for i in inputs]
    app = codec_app(codec, authorizations=["Bearer t"], cors_origins=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        answer = await http.post("/decode", headers={"Authorization": "Bearer t"}, json={"payloads": [
            {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
             "data": base64.b64encode(p.data).decode()} for p in sealed]})
    assert answer.status_code == 200
    decoded = [base64.b64decode(p["data"]).decode() for p in answer.json()["payloads"]]
    assert all(not shows(SECRET, text) for text in decoded), decoded
    assert json.loads(decoded[0])["iccid"] == ICCID  # decoded, only the secret masked

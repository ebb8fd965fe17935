"""Administering the lab SM-DP+: the admin HTTP API, the ``esimflow lab smdp`` commands, and a
server restarted on the same inventory."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from esimcli.lab_smdp import smdp as smdp_cli
from esimcli.main import main as esimflow
from rsplab.smdp.server import LabSmdp
from rsplab.smdp.status import ProfileStatus

from tests.lab.test_lab_smdp_kit import Download, LpaClient, SoftEuicc, codes, iccid_for, status_of


# --- admin HTTP API ------------------------------------------------------------------------------------


def test_admin_api_adds_lists_and_shows_profiles_without_secrets(smdp, lpa):
    created = lpa.admin("POST", "/profiles", {"iccid": iccid_for(5001), "matchingId": "ADMIN-MATCH-0001",
                                              "confirmationCode": "2468", "eid": None, "ppr1": True, "size": 2048})
    assert created.status_code == 201
    assert created.json()["activationCode"] == f"LPA:1${smdp.address}$ADMIN-MATCH-0001$$1"
    listed = lpa.admin("GET", "/profiles").json()
    assert iccid_for(5001) in [p["iccid"] for p in listed]
    shown = lpa.admin("GET", f"/profiles/{iccid_for(5001)}").json()
    assert (shown["matchingId"], shown["ccRequired"], shown["ppr1"], shown["size"]) == ("ADMI…(16)", True, True, 2048)
    assert "2468" not in json.dumps(listed) and "ADMIN-MATCH-0001" not in json.dumps(listed)
    code = lpa.admin("GET", f"/profiles/{iccid_for(5001)}/activation-code").json()["activationCode"]
    assert code == created.json()["activationCode"]
    assert lpa.admin("GET", "").json()["address"] == smdp.address


def test_admin_api_status_actions_and_their_refusals(smdp, lpa):
    iccid = iccid_for(5002)
    lpa.admin("POST", "/profiles", {"iccid": iccid})
    assert lpa.admin("POST", f"/profiles/{iccid}/hold").json()["released"] is False
    assert lpa.admin("POST", f"/profiles/{iccid}/release").json()["released"] is True
    assert lpa.admin("POST", f"/profiles/{iccid}/expire", {"reason": "contract ended"}).json()["status"] == "EXPIRED"
    refused = lpa.admin("POST", f"/profiles/{iccid}/cancel")
    assert refused.status_code == 409 and "cannot cancel from EXPIRED" in refused.json()["error"]
    reissued = lpa.admin("POST", f"/profiles/{iccid}/reissue", {"matchingId": "REISSUED-0002"}).json()
    assert reissued["profile"]["status"] == "AVAILABLE"
    assert reissued["activationCode"].endswith("$REISSUED-0002")
    assert lpa.admin("POST", f"/profiles/{iccid}/cancel").json()["status"] == "CANCELED"
    assert lpa.admin("POST", f"/profiles/{iccid}/remove").json()["status"] == "REMOVED"
    history = lpa.admin("GET", f"/profiles/{iccid}/history").json()
    assert [(h["event"], h["to"]) for h in history] == [
        ("add", "AVAILABLE"), ("hold", "AVAILABLE"), ("release", "AVAILABLE"), ("expire", "EXPIRED"),
        ("regenerate_ac", "AVAILABLE"), ("cancel", "CANCELED"), ("remove", "REMOVED")]
    assert history[3]["reason"] == "contract ended"


@pytest.mark.parametrize("method, path, body, status", [
    ("GET", f"/profiles/{iccid_for(5999)}", None, 404),
    ("POST", f"/profiles/{iccid_for(5999)}/expire", None, 404),
    ("POST", "/profiles", {"iccid": "1234"}, 400),
    ("POST", "/profiles", {"iccid": iccid_for(5003), "ppr1": "yes"}, 400),
    ("POST", "/profiles", {"iccid": iccid_for(5003), "colour": "red"}, 400),
    ("POST", "/profiles", {"matchingId": "X"}, 400),
    ("GET", "/profiles?status=SOLD", None, 400),
])
def test_admin_api_refuses_bad_requests(lpa, method, path, body, status):
    assert lpa.admin(method, path, body).status_code == status


def test_a_restarted_server_keeps_profiles_and_history_but_not_sessions(lab_identities, tmp_path):
    db = tmp_path / "smdp.db"
    euicc = SoftEuicc.from_dir(lab_identities)
    with LabSmdp(lab_identities, db) as first:
        iccid = iccid_for(5100)
        matching_id = first.add_profile(iccid).split("$")[2]
        client = LpaClient(first)
        download = Download(client, euicc)
        download.authenticate_client(matching_id)
        download.get_bound_profile_package()
        client.close()
    with LabSmdp(lab_identities, db) as second:
        assert second.status(iccid) == ProfileStatus.DOWNLOADED
        assert [c.event for c in second.history(iccid)] == ["add", "download"]
        client = LpaClient(second)
        download.lpa = client
        assert codes(download.cancel(1)) == ("8.10.1", "3.9")
        assert download.install(iccid).status_code == 204, "the eUICC certificate was kept"
        assert second.status(iccid) == ProfileStatus.INSTALLED
        client.close()


# --- the CLI on the inventory file -------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(smdp_cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_add_profile_prints_the_activation_code_masked_unless_asked_in_clear(smdp):
    db = smdp.inventory.path
    masked = run("add-profile", "--db", db, "--iccid", iccid_for(5202), "--matching-id", "CLI-MATCH-7Q2K")
    assert masked.exit_code == 0 and "CLI-MATCH-7Q2K" not in masked.output and "CLI-…(14)" in masked.output
    as_json = run("add-profile", "--db", db, "--iccid", iccid_for(5203), "--matching-id", "CLI-MATCH-8Q2K", "--json")
    assert "CLI-MATCH-8Q2K" not in as_json.output and json.loads(as_json.output)["profile"]["iccid"] == iccid_for(5203)
    again = run("activation-code", "--db", db, iccid_for(5202))
    assert again.exit_code == 0 and "CLI-MATCH-7Q2K" not in again.output

    plain = run("add-profile", "--db", db, "--iccid", iccid_for(5200), "--show-secrets")
    assert plain.exit_code == 0
    code = plain.output.strip()
    assert code.startswith(f"LPA:1${smdp.address}$") and code.count("$") == 2
    with_cc = run("add-profile", "--db", db, "--iccid", iccid_for(5201), "--matching-id", "CLI-MATCH-1",
                  "--confirmation-code", "1111", "--class", "test", "--ppr1", "--size", "2000", "--no-release",
                  "--show-secrets")
    assert with_cc.output.strip() == f"LPA:1${smdp.address}$CLI-MATCH-1$$1"
    profile = smdp.profile(iccid_for(5201))
    assert (profile.profile_class, profile.ppr1, profile.size, profile.released) == ("test", True, 2000, False)


def test_through_the_esimflow_command_too_activation_codes_are_in_clear_only_when_asked(smdp):
    db = str(smdp.inventory.path)
    run("add-profile", "--db", db, "--iccid", iccid_for(5204), "--matching-id", "CLI-MATCH-9Q2K")
    masked = CliRunner().invoke(esimflow, ["lab", "smdp", "activation-code", "--db", db, iccid_for(5204)])
    assert masked.exit_code == 0 and "CLI-MATCH-9Q2K" not in masked.output
    shown = CliRunner().invoke(esimflow, ["lab", "smdp", "activation-code", "--db", db, iccid_for(5204),
                                          "--show-secrets"])
    assert shown.output.strip() == f"LPA:1${smdp.address}$CLI-MATCH-9Q2K"


def test_cli_needs_an_address_for_activation_codes(tmp_path):
    db = tmp_path / "fresh.db"
    refused = CliRunner().invoke(smdp_cli, ["add-profile", "--db", str(db), "--iccid", iccid_for(5300)])
    assert refused.exit_code == 2 and "address is unknown" in refused.output
    given = run("add-profile", "--db", db, "--iccid", iccid_for(5300), "--address", "smdp.example.com", "--show-secrets")
    assert given.output.startswith("LPA:1$smdp.example.com$")


def test_cli_list_history_and_operator_actions(smdp):
    db = smdp.inventory.path
    iccid = iccid_for(5400)
    run("add-profile", "--db", db, "--iccid", iccid, "--matching-id", "CLI-SECRET-MATCH")
    listing = run("list", "--db", db)
    assert iccid in listing.output and "CLI-SECRET-MATCH" not in listing.output
    assert run("expire", "--db", db, iccid, "--reason", "unpaid").output.strip() == f"{iccid}  EXPIRED"
    refused = CliRunner().invoke(smdp_cli, ["cancel", "--db", str(db), iccid])
    assert refused.exit_code == 1 and "cannot cancel from EXPIRED" in refused.output
    expired = json.loads(run("list", "--db", db, "--status", "expired", "--json").output)
    assert iccid in [p["iccid"] for p in expired]
    history = run("history", "--db", db, iccid)
    assert "AVAILABLE -> EXPIRED" in history.output and "unpaid" in history.output
    assert json.loads(run("history", "--db", db, iccid, "--json").output)[-1]["to"] == "EXPIRED"
    new_code = run("reissue", "--db", db, iccid, "--show-secrets").output.strip()
    assert new_code.startswith(f"LPA:1${smdp.address}$") and "CLI-SECRET-MATCH" not in new_code
    assert run("activation-code", "--db", db, iccid, "--show-secrets").output.strip() == new_code
    assert run("release", "--db", db, iccid, "--hold", "--json").output.count('"released": false') == 1
    missing = CliRunner().invoke(smdp_cli, ["history", "--db", str(db), iccid_for(5999)])
    assert missing.exit_code == 2 and "no profile" in missing.output


def test_cli_faults_go_through_the_running_server(smdp, lpa, tmp_path):
    token_file = tmp_path / "admin-token"
    token_file.write_text(smdp.admin_token + "\n")
    server = ["--server", f"{smdp.fqdn}:{smdp.admin_port}", "--ca", smdp.ca_file,
              "--connect", f"127.0.0.1:{smdp.admin_port}", "--token-file", str(token_file)]
    added = json.loads(run("fault", "add", *server, "--endpoint", "cancelSession", "--kind", "drop",
                           "--count", "2").output)
    assert (added["endpoint"], added["kind"], added["count"]) == ("cancelSession", "drop", 2)
    assert [rule["id"] for rule in json.loads(run("fault", "list", *server).output)] == [added["id"]]
    assert "cleared" in run("fault", "clear", *server).output
    assert smdp.faults.rules() == []


def test_cli_serve_runs_until_interrupted(lab_identities, tmp_path):
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "esimflow"), "lab", "smdp", "serve", "--identities", str(lab_identities),
         "--db", str(tmp_path / "served.db"), "--port", "0", "--admin-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        assert lines[0].startswith("lab SM-DP+ localhost:")
        port = int(lines[1].rsplit(":", 1)[1])
        euicc = SoftEuicc.from_dir(lab_identities)
        with LabSmdpView(lab_identities, port) as view:
            assert status_of(Download(view.client, euicc).initiate_authentication()) == "Executed-Success"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


class LabSmdpView:
    """Just enough of a LabSmdp for LpaClient to reach a server running in another process."""

    def __init__(self, identities, port: int) -> None:
        from rsplab import pki

        self.port = port
        self.fqdn = "localhost"
        self.address = f"localhost:{port}"
        self.ca_file = pki.load(identities).ca_file

    def __enter__(self):
        self.client = LpaClient(self)
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

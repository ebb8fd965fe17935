"""The lab is not an open door: the admin API has its own loopback port and wants the bearer
token ``lab up`` writes to a 0600 file; ES9+ connections never reach an admin function; every
lab file holding secrets is 0600 in 0700 directories."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from esimcli.lab_smdp import smdp as smdp_cli
from rsplab.smdp.inventory import ProfileNotFoundError
from rsplab.up import Lab, LabOptions

from tests.lab.test_lab_smdp_kit import iccid_for

ADMIN_PATHS = [("GET", ""), ("GET", "/profiles"), ("POST", "/profiles"), ("GET", "/faults"), ("POST", "/faults"),
               ("DELETE", "/faults"), ("POST", f"/profiles/{iccid_for(7001)}/reissue"),
               ("GET", f"/profiles/{iccid_for(7001)}/activation-code")]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_admin_api_listens_on_loopback_on_its_own_port(smdp):
    assert smdp.admin_port != smdp.port
    (admin_socket,) = [s for s in smdp._sockets if s.getsockname()[1] == smdp.admin_port]
    assert admin_socket.getsockname()[0] == "127.0.0.1"


@pytest.mark.parametrize("method, path", ADMIN_PATHS)
def test_without_the_token_the_admin_api_refuses_everything(lpa, smdp, method, path):
    body = {"iccid": iccid_for(7001), "matchingId": "CHOSEN-BY-ATTACKER"} if method == "POST" else None
    for token in ("wrong-token-wrong-token-wrong", smdp.admin_token[:-1], smdp.admin_token + "x"):
        refused = lpa.admin(method, path, body, token=token)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "CHOSEN" not in refused.text and "LPA:" not in refused.text
    bare = lpa.http.request(method, f"https://127.0.0.1:{smdp.admin_port}/lab/admin{path}", json=body,
                            headers={"Host": smdp.address}, extensions={"sni_hostname": smdp.fqdn})
    assert bare.status_code == 401
    with pytest.raises(ProfileNotFoundError):
        smdp.profile(iccid_for(7001))  # nothing was created


@pytest.mark.parametrize("method, path", ADMIN_PATHS)
def test_the_es9_port_never_reaches_an_admin_function_even_with_the_token(lpa, smdp, method, path):
    for prefix in ("/lab/admin", "/gsma/rsp2/es9plus/../../../lab/admin", "//lab/admin", "/LAB/ADMIN"):
        response = lpa.http.request(method, f"https://127.0.0.1:{smdp.port}{prefix}{path}", json={},
                                    headers={"Host": smdp.address, "Authorization": f"Bearer {smdp.admin_token}"},
                                    extensions={"sni_hostname": smdp.fqdn})
        assert response.status_code in (404, 405), (prefix, path, response.status_code)
        assert "activationCode" not in response.text


def test_es9_paths_do_not_exist_on_the_admin_port(lpa, smdp):
    response = lpa.admin("POST", "/../../gsma/rsp2/es9plus/initiateAuthentication", {})
    assert response.status_code == 404
    direct = lpa.http.post(f"https://127.0.0.1:{smdp.admin_port}/gsma/rsp2/es9plus/initiateAuthentication",
                           json={}, headers={"Host": smdp.address, "Authorization": f"Bearer {smdp.admin_token}"},
                           extensions={"sni_hostname": smdp.fqdn})
    assert direct.status_code == 404


def test_with_the_token_the_admin_api_works(lpa):
    assert lpa.admin("GET", "/faults").json() == []


def test_lab_up_writes_a_fresh_token_0600_and_keeps_every_secret_private(tmp_path):
    state = tmp_path / "lab-state"
    options = LabOptions(state_dir=state, vpcd_cards=0, local_cards=1, profiles=1, smdp_port=0)
    with Lab(options) as lab:
        token_file = state / "admin-token"
        first = token_file.read_text().strip()
        assert first == lab.smdp.admin_token and len(first) >= 32
        summary = lab.summary()["smdp"]["admin"]
        assert summary["token_file"] == str(token_file.resolve()) and first not in json.dumps(lab.summary())
        # the CLI reads the file (and only with it gets in)
        server = ["--server", f"{lab.smdp.fqdn}:{lab.smdp.admin_port}", "--ca", str(lab.smdp.ca_file),
                  "--connect", lab.smdp.admin_connect]
        listed = CliRunner().invoke(smdp_cli, ["fault", "list", *server, "--token-file", str(token_file)])
        assert listed.exit_code == 0 and json.loads(listed.output) == []
        wrong = tmp_path / "wrong-token"
        wrong.write_text("not-the-token-not-the-token-123\n")
        refused = CliRunner().invoke(smdp_cli, ["fault", "list", *server, "--token-file", str(wrong)])
        assert refused.exit_code == 1 and "bearer token" in refused.output

        directories = [state, *(p for p in state.rglob("*") if p.is_dir())]
        assert {str(d): _mode(d) for d in directories} == {str(d): 0o700 for d in directories}
        secrets = [p for p in state.rglob("*") if p.is_file() and not p.name.startswith("CERT_") and p.name != "ca.pem"]
        names = {p.name for p in secrets}
        assert {"admin-token", "smdp.sqlite3", f"euicc-{lab.cards[0].eid}.json"} <= names
        assert any(name.startswith("SK_") for name in names)
        assert {str(p): _mode(p) for p in secrets} == {str(p): 0o600 for p in secrets}
    with Lab(options) as again:
        assert (state / "admin-token").read_text().strip() == again.smdp.admin_token != first


def test_an_existing_open_state_directory_is_closed_to_others(tmp_path):
    state = tmp_path / "old-lab"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    with Lab(LabOptions(state_dir=state, vpcd_cards=0, local_cards=1, profiles=0, smdp_port=0)):
        assert _mode(state) == 0o700

"""The docker compose file of docs/deploy.md, checked where containers cannot run: against the
compose specification's JSON schema (vendored by check-jsonschema, nothing downloaded), then
against what esimflow itself expects of each of its services."""
from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from esimcli.main import main as cli
from esimcli.worker_cmd import ENV_SMDP_CA
from esimflow import config
from esimflow.migration.store import ENV_MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
ENGINE_SETTINGS = {config.ENV_ADDRESS, config.ENV_NAMESPACE, config.ENV_TLS_CERT, config.ENV_TLS_KEY,
                   config.ENV_TLS_CA, config.ENV_TLS_SERVER_NAME, config.ENV_API_KEY, config.ENV_CODEC_KEY,
                   config.ENV_CODEC_KEY_FILE, config.ENV_DEVICE_REGISTRY, config.ENV_HISTORY, ENV_MIGRATIONS,
                   ENV_SMDP_CA}


@pytest.fixture(scope="module")
def compose() -> dict:
    return YAML(typ="safe").load(COMPOSE.read_text())


def esimflow_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items()
            if service.get("image", "").startswith("esimflow-worker")}


def test_the_compose_file_follows_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    checked = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_topology_is_postgresql_temporal_an_engine_host_and_two_card_hosts(compose):
    services = compose["services"]
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["postgresql"]["image"].startswith("postgres:")
    ours = esimflow_services(compose)
    card_hosts = {name: s for name, s in ours.items() if "--card-host" in s["command"]}
    engines = {name: s for name, s in ours.items() if "--card-host" not in s["command"]}
    assert len(engines) == 1 and len(card_hosts) == 2
    names = [s["command"][s["command"].index("--card-host") + 1] for s in card_hosts.values()]
    assert len(set(names)) == 2, "two card hosts under one name would take each other's cards"
    for name, service in compose["services"].items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on an unknown service {needed}"
    dockerfile = ROOT / "deploy" / ours["engine"]["build"]["dockerfile"].removeprefix("deploy/")
    assert dockerfile.is_file()
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"


def test_every_esimflow_service_runs_a_real_command_with_settings_esimflow_reads(compose):
    services = compose["services"]
    for name, service in esimflow_services(compose).items():
        command = service["command"]
        worker = cli.get_command(None, command[0])
        assert worker is not None, f"{name}: esimflow has no command {command[0]!r}"
        worker.make_context(command[0], list(command[1:]), resilient_parsing=False)  # unknown flags raise
        environment = service["environment"]
        unknown = {key for key in environment if key.startswith(("ESIMFLOW_", "TEMPORAL_"))} - ENGINE_SETTINGS
        assert not unknown, f"{name}: settings esimflow does not read: {unknown}"
        assert environment[config.ENV_DEVICE_REGISTRY] == config.TEMPORAL_REGISTRY  # no host file routes cards
        history = urllib.parse.urlsplit(environment[config.ENV_HISTORY])
        database = services["postgresql"]["environment"]
        assert history.scheme == "postgresql" and history.hostname == "postgresql"
        assert (history.username, history.password, history.path.lstrip("/")) == (
            database["POSTGRES_USER"], database["POSTGRES_PASSWORD"], database["POSTGRES_DB"])
        assert environment[config.ENV_ADDRESS].split(":")[0] == "temporal"
        for secret_setting in (config.ENV_CODEC_KEY_FILE, ENV_SMDP_CA):
            secret = environment[secret_setting].removeprefix("/run/secrets/")
            assert secret in service["secrets"] and secret in compose["secrets"]

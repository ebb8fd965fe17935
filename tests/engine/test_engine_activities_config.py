"""Where the engine finds its cards and its Temporal server: the device registry that routes
card steps to the host owning the reader, and the connection configuration."""
from __future__ import annotations

import pytest

from esimflow.contract import DeviceInfo
from esimflow.config import TemporalConfig
from esimflow.devices import DeviceNotFoundError, DeviceRegistry
from sgp22.errors import BadInputError

EID_1 = "89049032000000000000000000000163"
EID_2 = "89049032000000000000000000000260"


def test_registry_routes_each_eid_to_the_host_that_claimed_it_last(tmp_path):
    registry = DeviceRegistry(tmp_path / "devices.sqlite3")
    registry.register(DeviceInfo(EID_1, "host-a", "pcsc:Virtual PCD 00 00", "Virtual PCD 00 00"))
    registry.register(DeviceInfo(EID_2, "host-a", "local:lab-1", "lab-1"))
    registry.register(DeviceInfo(EID_1, "host-b", "pcsc:Reader B", "Reader B"))  # the card moved

    assert registry.lookup(EID_1).card_host == "host-b"
    assert DeviceRegistry(tmp_path / "devices.sqlite3").find("lab-1").eid == EID_2  # another process sees it
    assert registry.find("pcsc:Reader B").eid == EID_1
    registry.unregister(EID_1, "host-a")  # host-a no longer owns it: nothing happens
    assert registry.lookup(EID_1).card_host == "host-b"
    registry.unregister(EID_1, "host-b")
    with pytest.raises(DeviceNotFoundError) as missing:
        registry.lookup(EID_1)
    assert missing.value.win_status.name == "NotFound"
    assert [device.eid for device in registry.all()] == [EID_2]


def test_registry_refuses_a_reader_spec_it_cannot_open(tmp_path):
    with pytest.raises(BadInputError, match="pcsc:<reader name>, local:<name> or at:<serial device>"):
        DeviceRegistry(tmp_path / "d.sqlite3").register(DeviceInfo(EID_1, "h", "usb:reader"))


def test_config_from_environment_with_overrides(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"TEMPORAL_ADDRESS": "temporal.example.com:7233", "TEMPORAL_NAMESPACE": "esim.a1b2c",
           "TEMPORAL_TLS_CA": str(ca), "TEMPORAL_API_KEY": "secret-api-key", "XDG_STATE_HOME": str(tmp_path)}
    config = TemporalConfig.from_env(env, namespace="other")
    assert (config.address, config.namespace, config.tls_ca) == ("temporal.example.com:7233", "other", ca)
    assert config.tls_enabled
    assert config.device_registry == tmp_path / "esimflow" / "devices.sqlite3"
    assert "secret-api-key" not in repr(config)


def test_config_refuses_half_a_client_certificate(tmp_path):
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    with pytest.raises(BadInputError, match="together"):
        TemporalConfig.from_env({"TEMPORAL_TLS_CERT": str(cert)})
    with pytest.raises(BadInputError, match="payload key"):
        TemporalConfig.from_env({"ESIMFLOW_CODEC_KEY": "abcd"})


def test_local_dev_server_needs_no_tls():
    config = TemporalConfig.from_env({})
    assert (config.address, config.namespace, config.tls_config()) == ("localhost:7233", "default", False)

"""The `plc:` config section, and `open_plc` building a running link from it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inspector.configbase import Backoff
from inspector.errors import ConfigError
from inspector.plc.client import PlcClientLink
from inspector.plc.config import PlcClientConfig, PlcConfig, PlcTriggerConfig
from inspector.plc.link import open_plc
from inspector.plc.registers import Status
from inspector.plc.server import PlcServer
from tests.plc.harness import PlcProgram, SimulatedPlc, wait_for


def test_defaults():
    config = PlcConfig()
    assert (config.enabled, config.mode, config.host, config.port) == (
        False,
        "server",
        "127.0.0.1",
        5020,
    )
    assert (config.unit_id, config.plc_heartbeat_timeout_s) == (1, 2.0)
    assert (config.client.station_offset, config.client.control_offset) == (0, 32)


def test_every_field_described():
    for model in (PlcConfig, PlcClientConfig, Backoff, PlcTriggerConfig):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"mode": "master"}, "mode"),
        ({"port": 70000}, "port"),
        ({"unit_id": 256}, "unit_id"),
        ({"plc_heartbeat_timeout_s": -1}, "plc_heartbeat_timeout_s"),
        ({"prot": 502}, "prot"),
        ({"client": {"station_offset": 10, "control_offset": 20}}, "overlap"),
        ({"client": {"poll_interval_s": 0}}, "poll_interval_s"),
        ({"client": {"backoff": {"initial_s": 5, "max_s": 1}}}, "max_s"),
    ],
)
def test_invalid_sections_name_the_field(doc, where):
    with pytest.raises(ValidationError, match=where):
        PlcConfig.model_validate(doc)


def test_trigger_config():
    assert PlcTriggerConfig(kind="plc").deadline_ms == 500.0
    with pytest.raises(ValidationError):
        PlcTriggerConfig(kind="plc", deadline_ms=0)


def test_open_plc_refuses_a_disabled_section():
    with pytest.raises(ConfigError, match=r"plc\.enabled"):
        open_plc(PlcConfig())


def test_open_plc_server_mode():
    link = open_plc(PlcConfig(enabled=True, port=0, plc_heartbeat_timeout_s=0))
    try:
        assert isinstance(link.transport, PlcServer)
        program = PlcProgram(link.transport.endpoint.port)
        try:
            assert program.status().status == Status(0)
        finally:
            program.close()
        assert link.trigger(300.0).deadline_s == pytest.approx(0.3)
    finally:
        link.close()


def test_open_plc_client_mode():
    plc = SimulatedPlc()
    config = PlcConfig.model_validate(
        {"enabled": True, "mode": "client", "port": plc.port, "client": {"station_offset": 50}}
    )
    link = open_plc(config)
    try:
        assert isinstance(link.transport, PlcClientLink)
        wait_for(lambda: link.transport.connected, what="link up")
        link.handshake.heartbeat()
        program = PlcProgram(plc.port, station_offset=50)
        try:
            wait_for(lambda: program.status().heartbeat == 1, what="heartbeat in the PLC")
        finally:
            program.close()
    finally:
        link.close()
        plc.close()

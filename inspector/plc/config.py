"""The `plc:` section of station.yaml, and the `trigger: {kind: plc}` variant."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from inspector.configbase import Backoff, Section
from inspector.plc.access import AllowedNetwork, allow_list_entries, parse_allowed_network
from inspector.plc.registers import CONTROL_BLOCK_WORDS, STATION_BLOCK_WORDS
from inspector.trigger.config import TriggerConfig

__all__ = ["PlcClientConfig", "PlcConfig", "PlcTriggerConfig"]


class PlcClientConfig(Section):
    station_offset: int = Field(
        0,
        ge=0,
        le=0xFFFF - STATION_BLOCK_WORDS + 1,
        description=f"PLC holding register where the {STATION_BLOCK_WORDS}-word station "
        "block (HR 0-15 of the map) is written.",
    )
    control_offset: int = Field(
        32,
        ge=0,
        le=0xFFFF - CONTROL_BLOCK_WORDS + 1,
        description=f"PLC holding register where the {CONTROL_BLOCK_WORDS}-word control "
        "block (HR 32-37 of the map) is read.",
    )
    poll_interval_s: float = Field(
        0.02, gt=0, le=1.0, description="Seconds between polls of the control block."
    )
    timeout_s: float = Field(1.0, gt=0, le=60, description="Connect and request timeout, seconds.")
    backoff: Backoff = Field(default_factory=Backoff, description="Reconnect backoff.")

    @model_validator(mode="after")
    def _disjoint(self) -> PlcClientConfig:
        station = range(self.station_offset, self.station_offset + STATION_BLOCK_WORDS)
        control = range(self.control_offset, self.control_offset + CONTROL_BLOCK_WORDS)
        if station.start < control.stop and control.start < station.stop:
            raise ValueError("station_offset and control_offset blocks overlap")
        return self


class PlcConfig(Section):
    enabled: bool = Field(False, description="Link the station to a PLC over Modbus TCP.")
    mode: Literal["server", "client"] = Field(
        "server",
        description="server: the PLC polls the station (default); client: the station "
        "writes into a PLC that cannot poll.",
    )
    host: str = Field(
        "127.0.0.1",
        description="server: address to listen on (0.0.0.0 for a PLC on the network; "
        "Modbus has no authentication, so keep it on the machine network); "
        "client: the PLC's address.",
    )
    port: int = Field(
        5020,
        ge=0,
        le=65535,
        description="TCP port. 5020 suits tests and the demo; production PLCs use 502, "
        "which needs root or CAP_NET_BIND_SERVICE to listen on.",
    )
    unit_id: int = Field(
        1,
        ge=0,
        le=255,
        description="Modbus unit id (server: the one answered, 0 answers all; client: the PLC's).",
    )
    plc_heartbeat_timeout_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="ERROR (latched) when PLC_HEARTBEAT has not changed for this long, "
        "once it has been seen changing; 0 disables the watchdog.",
    )
    write_allow: Annotated[
        tuple[Annotated[AllowedNetwork, BeforeValidator(parse_allowed_network)], ...],
        BeforeValidator(allow_list_entries),
    ] = Field(
        (),
        description="server: client addresses or networks that may write (e.g. "
        '["192.168.10.5", "10.0.0.0/24"]); others may read but every write gets Modbus '
        "exception 1. Empty: everyone may write. Modbus has no authentication: this keeps "
        "a second master (an HMI, another PLC) from writing the control block.",
    )
    client: PlcClientConfig = Field(
        default_factory=PlcClientConfig, description="Client-mode register layout and polling."
    )

    @model_validator(mode="after")
    def _write_allow_is_for_servers(self) -> PlcConfig:
        if self.write_allow and self.mode != "server":
            # refused rather than ignored: an ignored list would look like protection
            raise ValueError(
                "write_allow: only for mode: server (in client mode the station writes "
                "into the PLC and nothing writes to the station)"
            )
        return self


class PlcTriggerConfig(TriggerConfig):
    kind: Literal["plc"] = Field(description="The PLC's TRIGGER handshake (needs plc.enabled).")

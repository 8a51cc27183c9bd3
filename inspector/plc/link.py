"""Open the PLC link a `plc:` config section describes: handshake plus transport."""

from __future__ import annotations

from dataclasses import dataclass, field

from inspector.errors import ConfigError
from inspector.plc.client import ClientLayout, PlcClientLink, tcp_connector
from inspector.plc.config import PlcConfig
from inspector.plc.handshake import Handshake
from inspector.plc.server import Endpoint, PlcServer, serve_station
from inspector.plc.trigger import PlcHealthMonitor, PlcResultSink, PlcTrigger

__all__ = ["PlcLink", "open_plc"]


@dataclass
class PlcLink:
    """A running link. The station gets `trigger(...)` and `result_sink`; `close()` ends it."""

    handshake: Handshake
    transport: PlcServer | PlcClientLink
    result_sink: PlcResultSink = field(init=False)
    monitor: PlcHealthMonitor = field(init=False)

    def __post_init__(self) -> None:
        self.result_sink = PlcResultSink(self.handshake)
        self.monitor = PlcHealthMonitor(self.handshake)

    def trigger(self, deadline_ms: float) -> PlcTrigger:
        self.handshake.result_deadline_s = deadline_ms / 1000.0
        return PlcTrigger(self.handshake, deadline_ms)

    def close(self) -> None:
        self.transport.close()


def open_plc(config: PlcConfig) -> PlcLink:
    """Listen (server mode) or start polling the PLC (client mode)."""
    if not config.enabled:
        raise ConfigError("plc.enabled: the PLC link is disabled")
    handshake = Handshake(config.plc_heartbeat_timeout_s)
    if config.mode == "server":
        transport: PlcServer | PlcClientLink = serve_station(
            handshake,
            Endpoint(config.host, config.port, config.unit_id),
            write_allow=config.write_allow,
        )
        return PlcLink(handshake, transport)
    client = config.client
    transport = PlcClientLink(
        handshake,
        tcp_connector(config.host, config.port, client.timeout_s),
        ClientLayout(client.station_offset, client.control_offset, config.unit_id),
        poll_interval_s=client.poll_interval_s,
        backoff=client.backoff,
        name=f"PLC {config.host}:{config.port}",
    )
    return PlcLink(handshake, transport.start())

"""`inspector bench --recipes N`: how long a recipe changeover takes, as the PLC sees it.

A station serves the PLC with three recipes: two preloaded (the bench's model and
`recipe_model`) and the second model again loaded on demand. A PLC client in this
process switches back and forth N times between the preloaded two, timing each switch
from its RECIPE_LOAD write to reading READY with the new ACTIVE_RECIPE (Modbus round
trips included); then it asks once for the on-demand recipe, which opens its model.
The station's own figures (request to switched, the load time) come from its events.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.config import parse_config
from inspector.errors import InspectorError
from inspector.factory import build_station
from inspector.plc.registers import Control, HoldingRegister, StationBlock, Status
from inspector.plc.server import PlcServer
from inspector.plc.simulate import StationConnection, connect_station

if TYPE_CHECKING:
    from inspector.bench import BenchOptions

__all__ = ["measure_recipes"]

ARM = Control.TRIGGER_ENABLE
SWITCH_TIMEOUT_S = 30.0


def measure_recipes(options: BenchOptions) -> dict[str, Any]:
    from inspector.bench import _config, percentiles

    second = options.recipe_model or options.model
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        doc = _config(options, "realtime", Path(tmp)).model_dump(mode="json")
        model = doc["model"]
        doc["trigger"] = {"kind": "plc", "deadline_ms": 10_000}
        doc["plc"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
        doc["recipes"] = [
            {"number": 1, "name": "first"},
            {"number": 2, "name": "second", "model": model | {"path": str(second)}},
            {
                "number": 3,
                "name": "on-demand",
                "preload": False,
                "model": model | {"path": str(second)},
            },
        ]
        parts = build_station(parse_config(doc, "bench config"), command="inspector bench")
        if parts.plc is None or not isinstance(parts.plc.transport, PlcServer):
            raise InspectorError("bench: the recipe bench needs the station to serve the PLC")
        endpoint = parts.plc.transport.endpoint
        parts.station.start()
        try:
            plc = connect_station(endpoint.host, endpoint.port)
            with contextlib.closing(plc):
                _wait(plc, lambda b: Status.READY in b.status)
                preloaded = [_switch(plc, 2 - i % 2) for i in range(options.recipe_switches)]
                on_demand = _switch(plc, 3)
        finally:
            parts.station.stop()
        station = _station_figures(Path(tmp) / "bench.db")
    return {
        "switches": len(preloaded),
        "preloaded_load_to_ready_ms": percentiles(preloaded),
        "preloaded_station_switch_ms": percentiles(station["switch_ms"][:-1]),
        "on_demand_load_to_ready_ms": round(on_demand, 2),
        "on_demand_model_load_ms": station["load_ms"][-1],
        "recipe_model": str(second),
    }


def _switch(plc: StationConnection, number: int) -> float:
    """One changeover as a PLC runs it; ms from the RECIPE_LOAD write to READY."""
    plc.write_words(HoldingRegister.RECIPE_REQUEST, [number])
    start = time.perf_counter()
    plc.write_words(HoldingRegister.CONTROL, [int(ARM | Control.RECIPE_LOAD)])
    block = _wait(
        plc,
        lambda b: (
            Status.RECIPE_SWITCHING not in b.status
            and (Status.READY in b.status or Status.ERROR in b.status)
        ),
    )
    ms = (time.perf_counter() - start) * 1000
    plc.write_words(HoldingRegister.CONTROL, [int(ARM)])
    if block.active_recipe != number or Status.ERROR in block.status:
        raise InspectorError(f"bench: recipe {number} did not load (error {block.error_code})")
    return ms


def _wait(plc: StationConnection, done: Any) -> StationBlock:
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while time.monotonic() < deadline:
        block = plc.read_station()
        if done(block):
            return block
    raise InspectorError(f"bench: the station did not answer within {SWITCH_TIMEOUT_S:.0f} s")


def _station_figures(database: Path) -> dict[str, list[float]]:
    """The switches' own timings from the station's event log (PLC switches only)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        rows = conn.execute(
            "SELECT detail FROM events WHERE kind = 'recipe_changed' ORDER BY id"
        ).fetchall()
    details = [json.loads(d) for (d,) in rows]
    switched = [d for d in details if d.get("by") == "plc"]
    return {
        "switch_ms": [d["switch_ms"] for d in switched],
        "load_ms": [d["load_ms"] for d in switched],
    }

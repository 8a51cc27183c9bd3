"""What plug-ins that write beside the log get from the factory (`OpenContext.store`)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.store.db import Store
from inspector.store.inspections import InspectionWriter
from inspector.store.sink import StoreSink

__all__ = ["StoreLink"]


@dataclass(frozen=True)
class StoreLink:
    """The open store (`connect()` for a connection of one's own), the worker's
    `InspectionWriter` (`add_hook`: rows in each part's transaction) and the log
    thread's `StoreSink` (`add_event_hook`: rows in each event's transaction)."""

    store: Store
    writer: InspectionWriter
    events: StoreSink

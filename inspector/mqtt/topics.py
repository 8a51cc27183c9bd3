"""The station's topics: `<prefix>/<line>/<station>/{status,result,event,spc,summary}`.

Built once from checked levels (`check_topic_prefix`, and `Name`s for line and
station), so nothing on the publish path can form a wildcard or an empty level.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.errors import ConfigError
from inspector.mqtt.config import check_topic_level, check_topic_prefix

__all__ = ["Topics"]


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    line: str
    station: str

    def __post_init__(self) -> None:
        for field, value, check in (
            ("topic_prefix", self.prefix, check_topic_prefix),
            ("station.line", self.line, check_topic_level),
            ("station.name", self.station, check_topic_level),
        ):
            try:
                check(value)
            except ValueError as exc:
                raise ConfigError(f"{field}: {exc}") from None

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.line}/{self.station}"

    @property
    def status(self) -> str:
        """Retained: online with the station's state, or offline (also the last will)."""
        return f"{self.base}/status"

    @property
    def result(self) -> str:
        """One message per part."""
        return f"{self.base}/result"

    @property
    def event(self) -> str:
        """The station's events: faults, alarms, config, model and threshold changes."""
        return f"{self.base}/event"

    @property
    def spc(self) -> str:
        """Retained chart state and alarms (published by the SPC feature)."""
        return f"{self.base}/spc"

    @property
    def summary(self) -> str:
        """Retained: the station at a glance (state, counters, last part)."""
        return f"{self.base}/summary"

    def subscription(self) -> str:
        """Everything this station publishes."""
        return f"{self.base}/#"

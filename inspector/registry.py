"""Plug-in registries: one per kind (camera source, trigger, detector backend, sink).

A registry maps `kind -> (ConfigModel, "module:Class")`. The config model is imported
with the registry (it imports no runtime), so `inspector.config` can assemble the
station.yaml unions from every registry; the plug-in's module is imported only when a
station chooses that kind, so an ONNX Runtime station never imports OpenVINO. Adding a
plug-in is its module, its config model and one `register` line.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args

from inspector.configbase import PluginConfig
from inspector.errors import ConfigError, InspectorError

if TYPE_CHECKING:
    from inspector.plc.link import PlcLink
    from inspector.store.link import StoreLink

__all__ = ["OpenContext", "Plugin", "Registry", "registries_version"]

C = TypeVar("C", bound=PluginConfig)

_VERSION = [0]  # bumped on every change to any registry: the assembled config follows


def registries_version() -> int:
    return _VERSION[0]


@dataclass(frozen=True)
class Plugin(Generic[C]):
    """One registered kind: its config model and where its class lives."""

    kind: str
    config: type[C]
    target: str | type  # "module:Class", or the class itself

    def load(self, field: str) -> type[Any]:
        """The plug-in class, importing its module now; a missing runtime fails loudly."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, class_name = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InspectorError(
                f"{field}: '{self.kind}' cannot load ({exc}); is its runtime installed?"
            ) from None
        return getattr(module, class_name)


class Registry(Generic[C]):
    """The plug-ins of one kind, by name. `field` is where the kind is chosen in
    station.yaml, for error messages ("camera.kind")."""

    def __init__(self, field: str, base: type[C]) -> None:
        self.field = field
        self.base = base
        self._plugins: dict[str, Plugin[C]] = {}

    def register(self, kind: str, config: type[C], target: str | type) -> None:
        """Add a kind. Its config model must subclass the registry's base and declare
        `kind: Literal["<kind>"]`, which discriminates it in station.yaml."""
        if not issubclass(config, self.base):
            raise InspectorError(f"{config.__name__} must subclass {self.base.__name__}")
        if get_args(config.model_fields["kind"].annotation) != (kind,):
            raise InspectorError(f"{config.__name__}.kind must be Literal['{kind}']")
        if kind in self._plugins:
            raise InspectorError(f"{self.field}: '{kind}' is registered already")
        self._plugins[kind] = Plugin(kind, config, target)
        _VERSION[0] += 1

    def unregister(self, kind: str) -> None:
        """Remove a kind (tests that register their own plug-in clean up with this)."""
        del self._plugins[kind]
        _VERSION[0] += 1

    def __contains__(self, kind: object) -> bool:
        return kind in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(self._plugins)

    def config_models(self) -> tuple[type[C], ...]:
        return tuple(plugin.config for plugin in self._plugins.values())

    def plugin_class(self, kind: str) -> type[Any]:
        return self._plugin(kind).load(self.field)

    def default_config(self, kind: str) -> C:
        """The config of `kind` with every option at its default (for --backend NAME)."""
        return self._plugin(kind).config.model_validate({"kind": kind})

    def _plugin(self, kind: str) -> Plugin[C]:
        plugin = self._plugins.get(kind)
        if plugin is None:
            known = ", ".join(self._plugins)
            raise ConfigError(f"{self.field}: unknown '{kind}' (known: {known})")
        return plugin


@dataclass(frozen=True)
class OpenContext:
    """What plug-ins may share when a station opens them: links opened once by the
    factory (the PLC, the store), and facts about the station. Plug-ins take what they
    need."""

    station_name: str = "station-1"
    line: str = "line-1"
    class_names: tuple[str, ...] = ()
    plc: PlcLink | None = None
    store: StoreLink | None = None
    spc: bool = False  # whether the station runs SPC monitors (spc.enabled)

    def require_plc(self, field: str) -> PlcLink:
        if self.plc is None:
            raise ConfigError(f"{field}: needs plc.enabled: true")
        return self.plc

    def require_store(self, field: str) -> StoreLink:
        if self.store is None:
            raise ConfigError(f"{field}: needs the station's store (opened by the factory)")
        return self.store

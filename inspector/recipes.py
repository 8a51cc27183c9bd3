"""Recipes at run time: the loaded products a station switches between (docs/recipes.md).

A `Recipe` is everything a part's judgement depends on that changes with the product:
detector, judge, identity (which names the recipe on every record), part locating and
calibration. The `RecipeBook` hands out recipes by number: those preloaded at start at
once, others loaded on their first request (and kept). Loading is the factory's
`loader`; the book only decides when, and owns what it loaded (`close`).

The station asks the book on its inspection worker, between parts; a request it cannot
serve raises `RecipeError`, whose `reason` the PLC sees as an error code.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from inspector.detect.base import Detector
from inspector.errors import InspectorError
from inspector.judge import Judge
from inspector.trigger.config import TriggerConfig
from inspector.types import Region
from inspector.vision.rectify import Rectifier

__all__ = ["Recipe", "RecipeBook", "RecipeError", "RecipeRefusal", "Requester"]

log = logging.getLogger(__name__)


class Requester(enum.Enum):
    """Who asked for a switch: the audit log keeps it."""

    PLC = "plc"
    OPERATOR = "operator"
    START = "start-up"


class RecipeRefusal(enum.Enum):
    """Why a switch was refused (the PLC error code the station's listeners set)."""

    UNKNOWN = "unknown"
    LOAD_FAILED = "load_failed"


class RecipeError(InspectorError):
    """A recipe that cannot run: not configured, or its model or profile would not load."""

    def __init__(self, message: str, reason: RecipeRefusal) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Recipe:
    """One product, loaded and ready: what the station swaps into its pipeline."""

    number: int
    name: str
    detector: Detector
    judge: Judge
    model_id: str
    locate: Callable[[np.ndarray], Region | None] | None = None
    rectifier: Rectifier | None = None
    roi: Region | None = None
    calibration_id: str | None = None
    trigger: TriggerConfig | None = None  # the parameters the running trigger takes
    load_ms: float = 0.0  # how long opening it took


Loader = Callable[[int], Recipe]


class RecipeBook:
    """The configured recipes by number; `get` loads on demand. Thread-safe."""

    def __init__(self, names: Mapping[int, str], loader: Loader) -> None:
        self.names = dict(names)
        self._loader = loader
        self._loaded: dict[int, Recipe] = {}
        self._lock = threading.Lock()

    def preload(self, numbers: list[int]) -> None:
        """Open these now (a failure is the start's failure: the caller closes the book)."""
        for number in numbers:
            self.get(number)

    def loaded(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._loaded)

    def get(self, number: int) -> Recipe:
        """The recipe, loading it first if it is not yet; RecipeError if it cannot run."""
        if number not in self.names:
            known = sorted(self.names) or "none"
            raise RecipeError(
                f"recipe {number} is not configured (known: {known})", RecipeRefusal.UNKNOWN
            )
        with self._lock:  # one load at a time: two requests never open one model twice
            recipe = self._loaded.get(number)
            if recipe is None:
                recipe = self._load(number)
                self._loaded[number] = recipe
            return recipe

    def _load(self, number: int) -> Recipe:
        start = time.perf_counter()
        try:
            recipe = self._loader(number)
        except InspectorError as exc:
            raise RecipeError(
                f"recipe {number} ({self.names[number]}) failed to load: {exc}",
                RecipeRefusal.LOAD_FAILED,
            ) from exc
        ms = (time.perf_counter() - start) * 1000
        log.info("recipe %d (%s) loaded in %.0f ms", number, recipe.name, ms)
        return replace(recipe, load_ms=ms)

    def close(self) -> None:
        with self._lock:
            loaded, self._loaded = self._loaded, {}
        for recipe in loaded.values():
            recipe.detector.close()

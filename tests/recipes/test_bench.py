"""`inspector bench --recipes`: changeovers timed as the PLC sees them."""

from __future__ import annotations

import pytest

from inspector.bench import BenchOptions
from inspector.demo import DEMO_VIDEO
from inspector.recipes_bench import measure_recipes
from tests.conftest import shipped_model


@pytest.mark.parametrize("switches", [4])
def test_the_recipe_bench_times_preloaded_and_on_demand_switches(switches):
    options = BenchOptions(
        model=shipped_model("magnetic-tile"),
        video=DEMO_VIDEO,
        recipe_switches=switches,
        recipe_model=shipped_model("neu-det"),
    )
    figures = measure_recipes(options)
    assert figures["switches"] == switches
    assert set(figures["preloaded_load_to_ready_ms"]) == {"p50", "p99", "max"}
    assert figures["on_demand_model_load_ms"] > 0  # measured, not asserted against a clock

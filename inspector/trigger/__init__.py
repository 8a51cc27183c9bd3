"""Triggers: when a part is inspected (`base.py` has the ABC, `registry.py` the kinds)."""

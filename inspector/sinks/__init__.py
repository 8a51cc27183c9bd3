"""Sinks: everything that consumes inspection records off the hot path."""

"""inspector: an edge station that inspects every part on a production line."""

__version__ = "0.1.0"
__all__ = ["__version__"]

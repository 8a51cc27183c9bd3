"""Training and export, wrapping Ultralytics (AGPL-3.0, the `train` extra).

This package is the only place that imports torch or ultralytics; the station runtime
never imports it.
"""

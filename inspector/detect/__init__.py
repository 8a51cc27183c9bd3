"""The detector runtime: a small ABC, a registry of backends, YOLO and defect-map decoding."""

from inspector.detect.base import BACKENDS, DecodeParams, Detector, ModelInfo, open_detector

__all__ = ["BACKENDS", "DecodeParams", "Detector", "ModelInfo", "open_detector"]

"""Decoding of Ultralytics detect outputs into `Detections`.

Two layouts exist: the raw head (1, 4 + nc, N) of cx, cy, w, h and per-class scores,
which needs NMS; and the end-to-end head (1, N, 6) of x1, y1, x2, y2, score, class.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from inspector.detect.decoder import Decoder
from inspector.errors import ModelError, ModelOutputError
from inspector.types import Detections
from inspector.vision.letterbox import Geometry

__all__ = ["DecodeParams", "Layout", "YoloDecoder", "detect_layout", "nms"]

MAX_WH = 7680.0  # per-class offset for class-aware NMS, as Ultralytics uses
MAX_NMS = 30000  # most candidates NMS looks at


class Layout(enum.Enum):
    RAW = "raw (1, 4+nc, N), needs NMS"
    END2END = "end-to-end (1, N, 6)"


@dataclass(frozen=True)
class DecodeParams:
    """Score threshold, NMS IoU, detection cap; `multi_label` lets one box carry
    several classes (what Ultralytics' validator does)."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    agnostic: bool = False
    multi_label: bool = False


def detect_layout(shape: tuple[int, ...], num_classes: int, where: str) -> Layout:
    """Which layout an output of `shape` is, or a ModelError naming `where`."""
    if len(shape) == 3 and shape[0] in (1, -1):
        if shape[1] == 4 + num_classes:
            return Layout.RAW
        if shape[2] == 6:
            return Layout.END2END
    raise ModelError(
        f"{where}: output shape {list(shape)} matches no known layout for {num_classes} "
        f"classes: expected (1, {4 + num_classes}, N) or (1, N, 6)"
    )


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (torchvision semantics)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class YoloDecoder(Decoder):
    """Turns one raw output array into `Detections` in source-frame pixels."""

    def __init__(self, layout: Layout, num_classes: int, params: DecodeParams) -> None:
        self.layout = layout
        self.num_classes = num_classes
        self.params = params

    def __call__(
        self, output: np.ndarray, geometry: Geometry, origin: tuple[int, int] = (0, 0)
    ) -> Detections:
        """Boxes in the pixels of the image the letterbox was given, shifted by `origin`
        (where that image lies in the frame), on arrays made for this call."""
        if self.layout is Layout.END2END:
            xyxy, score, cls = self._end2end(output[0])
        else:
            xyxy, score, cls = self._raw(output[0])
        if len(score) == 0:
            return Detections.empty()
        geometry.to_source(xyxy)
        if origin != (0, 0):
            xyxy[:, 0::2] += origin[0]
            xyxy[:, 1::2] += origin[1]
        return Detections.from_arrays(xyxy, score, cls)

    def _end2end(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _check_finite(rows[:, 4], "scores")
        keep = rows[:, 4] > self.params.conf
        rows = rows[keep][: self.params.max_det]
        xyxy = rows[:, :4].astype(np.float32)
        _check_finite(xyxy, "boxes")
        cls = rows[:, 5]
        if len(cls) and ((cls < 0).any() or (cls >= self.num_classes).any() or (cls % 1).any()):
            raise ModelOutputError(
                f"model output holds class ids outside its {self.num_classes} classes"
            )
        return xyxy, rows[:, 4], cls.astype(np.int32)

    def _raw(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.params
        class_scores = pred[4:]
        best = class_scores.max(axis=0)  # NaN anywhere in a column shows here
        _check_finite(best, "scores")
        candidates = np.flatnonzero(best > p.conf)
        if candidates.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
        scores = class_scores[:, candidates]
        if p.multi_label:
            cls, col = np.nonzero(scores > p.conf)
            score = scores[cls, col]
            box_index = candidates[col]
        else:
            cls = scores.argmax(axis=0)
            score = scores[cls, np.arange(candidates.size)]
            box_index = candidates
        if score.size > MAX_NMS:
            top = np.argsort(-score, kind="stable")[:MAX_NMS]
            cls, score, box_index = cls[top], score[top], box_index[top]
        xyxy = _cxcywh_to_xyxy(pred[:4, box_index].T)
        _check_finite(xyxy, "boxes")
        offset = 0.0 if p.agnostic else cls[:, None].astype(np.float32) * MAX_WH
        keep = nms(xyxy + offset, score, p.iou)[: p.max_det]
        return xyxy[keep], score[keep], cls[keep].astype(np.int32)


def _check_finite(values: np.ndarray, what: str) -> None:
    """Silence is never a pass: NaN scores compare false with every threshold, so a
    broken model would pass every part unless its output is checked."""
    if not np.isfinite(values).all():
        raise ModelOutputError(f"model output holds NaN or infinite {what}")


def _cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    xyxy = np.empty_like(cxcywh, dtype=np.float32)
    half = cxcywh[:, 2:4] / 2
    xyxy[:, 0:2] = cxcywh[:, 0:2] - half
    xyxy[:, 2:4] = cxcywh[:, 0:2] + half
    return xyxy

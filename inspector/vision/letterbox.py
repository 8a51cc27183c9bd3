"""Letterbox a frame into a preallocated NCHW float32 tensor, the way Ultralytics does.

The geometry (scale, padding) depends only on the frame size, so it is computed once per
size; the padded canvas and the tensor are allocated once and rewritten per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Geometry", "Letterbox"]

PAD_VALUE = 114  # Ultralytics' letterbox grey


@dataclass(frozen=True, slots=True)
class Geometry:
    """How a frame of `src_hw` maps into the model input: per-axis gain and top-left pad."""

    src_hw: tuple[int, int]
    resized_wh: tuple[int, int]
    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int

    @classmethod
    def compute(cls, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> Geometry:
        h0, w0 = src_hw
        r = min(dst_hw[0] / h0, dst_hw[1] / w0)
        new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
        pad_x = round((dst_hw[1] - new_w) / 2 - 0.1)
        pad_y = round((dst_hw[0] - new_h) / 2 - 0.1)
        return cls(src_hw, (new_w, new_h), new_w / w0, new_h / h0, pad_x, pad_y)

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes from model-input pixels back to source pixels, in place, clipped."""
        xyxy[:, 0::2] -= self.pad_x
        xyxy[:, 1::2] -= self.pad_y
        xyxy[:, 0::2] /= self.gain_x
        xyxy[:, 1::2] /= self.gain_y
        np.clip(xyxy[:, 0::2], 0, self.src_hw[1], out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, self.src_hw[0], out=xyxy[:, 1::2])
        return xyxy


class Letterbox:
    """Resize-and-pad into a reused canvas, then into a reused (1, C, H, W) float32 tensor.

    `channels` is the model's input channel count: 3 (RGB) or 1 (grey). Frames may be
    BGR (H, W, 3) or grey (H, W) / (H, W, 1) whatever the model wants.
    """

    def __init__(self, input_hw: tuple[int, int], channels: int = 3) -> None:
        if channels not in (1, 3):
            raise ValueError(f"model input must have 1 or 3 channels, not {channels}")
        self.input_hw = input_hw
        self.channels = channels
        self.tensor = np.zeros((1, channels, *input_hw), dtype=np.float32)
        self._grey = np.full(input_hw, PAD_VALUE, dtype=np.uint8)
        self._bgr = np.full((*input_hw, 3), PAD_VALUE, dtype=np.uint8)
        self._geometry: Geometry | None = None

    def geometry(self, frame_hw: tuple[int, int]) -> Geometry:
        if self._geometry is None or self._geometry.src_hw != frame_hw:
            self._geometry = Geometry.compute(frame_hw, self.input_hw)
            # a new size leaves stale pixels where the new padding is: repaint once
            self._grey.fill(PAD_VALUE)
            self._bgr.fill(PAD_VALUE)
        return self._geometry

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, Geometry]:
        """Fill and return the shared input tensor for `frame`, with its geometry."""
        grey_in = frame.ndim == 2 or frame.shape[2] == 1
        geo = self.geometry(frame.shape[:2])
        canvas = self._grey if (grey_in or self.channels == 1) else self._bgr
        w, h = geo.resized_wh
        region = canvas[geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w]
        source = frame.reshape(frame.shape[:2]) if grey_in else frame
        if self.channels == 1 and not grey_in:
            source = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if source.shape[:2] == (h, w):
            region[...] = source
        else:
            cv2.resize(source, (w, h), dst=region, interpolation=cv2.INTER_LINEAR)
        self._normalise(canvas)
        return self.tensor, geo

    def _normalise(self, canvas: np.ndarray) -> None:
        out = self.tensor[0]
        if canvas.ndim == 2:
            np.divide(canvas, np.float32(255.0), out=out[0])
            if self.channels == 3:
                out[1] = out[0]
                out[2] = out[0]
            return
        for c in range(3):  # BGR canvas -> RGB planes
            np.divide(canvas[:, :, 2 - c], np.float32(255.0), out=out[c])

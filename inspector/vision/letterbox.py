"""Letterbox a frame into a preallocated NCHW float32 tensor, the way Ultralytics does
(or, for a runtime that folds the conversion into the model, a uint8 NHWC one).

The geometry (scale, padding) depends only on the frame size, so it is computed once per
size, and so is the padding: it is painted into the tensor when the size changes, and
each frame rewrites only the window its pixels land in. The resized image and its colour
planes go through small buffers allocated once per size.
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
    """Resize into a reused buffer, then scale into the window of a reused (1, C, H, W)
    float32 tensor; the padding around the window is painted once per frame size.

    `channels` is the model's input channel count: 3 (RGB) or 1 (grey). Frames may be
    BGR (H, W, 3) or grey (H, W) / (H, W, 1) whatever the model wants. A backend may
    replace `tensor` (with page-locked memory, say) before the first frame.

    `uint8`: the tensor is (1, H, W, C) uint8 instead, the frame's pixels as they are
    (BGR, or grey), for a runtime whose model converts, reorders and scales them itself
    (OpenVINO's PrePostProcessor): the resize writes straight into its window.
    """

    def __init__(self, input_hw: tuple[int, int], channels: int = 3, uint8: bool = False) -> None:
        if channels not in (1, 3):
            raise ValueError(f"model input must have 1 or 3 channels, not {channels}")
        self.input_hw = input_hw
        self.channels = channels
        self.uint8 = uint8
        self.tensor: np.ndarray = (
            np.zeros((1, *input_hw, channels), dtype=np.uint8)
            if uint8
            else np.zeros((1, channels, *input_hw), dtype=np.float32)
        )
        self._geometry: Geometry | None = None
        self._scratch: _Scratch | None = None

    def geometry(self, frame_hw: tuple[int, int]) -> Geometry:
        if self._geometry is None or self._geometry.src_hw != frame_hw:
            self._geometry = Geometry.compute(frame_hw, self.input_hw)
            self._scratch = _Scratch(self._geometry.resized_wh)
            # the old window's pixels would show where the new padding is
            self.tensor.fill(PAD_VALUE if self.uint8 else np.float32(PAD_VALUE) / np.float32(255.0))
        return self._geometry

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, Geometry]:
        """Fill and return the shared input tensor for `frame`, with its geometry."""
        geo = self.geometry(frame.shape[:2])
        scratch = self._scratch
        assert scratch is not None  # made with the geometry
        w, h = geo.resized_wh
        if self.uint8:
            self._fill_uint8(frame, geo, scratch)
            return self.tensor, geo
        window = self.tensor[0, :, geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w]
        if frame.ndim == 2 or frame.shape[2] == 1:
            self._scale_grey(scratch.resize(frame.reshape(frame.shape[:2])), window)
        elif self.channels == 1:
            bgr = scratch.resize(frame)
            self._scale_grey(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY, dst=scratch.grey), window)
        else:
            planes = cv2.split(scratch.resize(frame), scratch.planes)
            for c in range(3):  # BGR planes -> RGB tensor
                np.divide(planes[2 - c], np.float32(255.0), out=window[c])
        return self.tensor, geo

    def _fill_uint8(self, frame: np.ndarray, geo: Geometry, scratch: _Scratch) -> None:
        """The window of the (1, H, W, C) uint8 tensor: resized straight into it (OpenCV
        writes into the strided view), grey or BGR as the model's channels say."""
        w, h = geo.resized_wh
        window = self.tensor[0, geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w]
        if frame.ndim == 2 or frame.shape[2] == 1:
            grey = frame.reshape(frame.shape[:2])
            if self.channels == 1:
                scratch.resize(grey, window[:, :, 0])
            else:
                cv2.cvtColor(scratch.resize(grey), cv2.COLOR_GRAY2BGR, dst=window)
        elif self.channels == 1:
            cv2.cvtColor(scratch.resize(frame), cv2.COLOR_BGR2GRAY, dst=window[:, :, 0])
        else:
            scratch.resize(frame, window)

    def _scale_grey(self, grey: np.ndarray, window: np.ndarray) -> None:
        np.divide(grey, np.float32(255.0), out=window[0])
        for c in range(1, self.channels):
            window[c] = window[0]


class _Scratch:
    """The per-frame-size buffers: the resized image (colour and grey) and its planes."""

    def __init__(self, resized_wh: tuple[int, int]) -> None:
        w, h = resized_wh
        self.hw = (h, w)
        self.bgr = np.empty((h, w, 3), np.uint8)
        self.grey = np.empty((h, w), np.uint8)
        self.planes = tuple(np.empty((h, w), np.uint8) for _ in range(3))

    def resize(self, source: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """`source` at the window's size, into `dst` when given (copied there when it
        already is that size), else itself when it already is, else resized into the
        buffer of its kind."""
        if source.shape[:2] == self.hw:
            if dst is None:
                return source
            np.copyto(dst, source)
            return dst
        if dst is None:
            dst = self.grey if source.ndim == 2 else self.bgr
        h, w = self.hw
        return cv2.resize(source, (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)

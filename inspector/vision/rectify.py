"""Undistortion, ROI crop, letterbox and flat-field in one `cv2.remap` per part.

The camera's undistortion maps (undistorted pixel -> raw pixel) are computed once per
profile. A region of the undistorted image reaches the model through a scale and an
offset (the letterbox), so its window's maps are the full maps' crop resized to the
window (two small resizes), and one remap then reads the raw frame straight into the
model's window: no undistorted frame, no crop copy. A fixed region (the profile's ROI)
keeps its maps; a moving part's region gets new ones per part. The flat-field gain,
resampled into undistorted pixels once, is cropped and resized with the maps and folded
into the 0..1 scaling the letterbox does anyway, so it costs no extra pass.

Boxes come back in undistorted pixels of the whole image (the geometry's source is the
region; add its origin), where the profile's mm per pixel holds.

A uint8 (1, H, W, 3) tensor (a model that converts and scales its input itself, OpenVINO
with `preprocess: model`) gets the remap straight into its window, BGR as the frame is.
It cannot carry a flat-field gain: rounded to whole grey levels, the gain changes what
the model finds (the factory refuses that combination).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.types import Region
from inspector.vision.letterbox import PAD_VALUE, Geometry

__all__ = ["Rectifier", "WindowMaps"]

_NO_MAP = np.empty((0, 0), np.float32)  # the second map, empty: x and y are in the first


@dataclass(frozen=True, slots=True)
class WindowMaps:
    """Everything one region needs per part: fixed-point maps and the per-pixel scale."""

    region: Region
    geometry: Geometry
    map1: np.ndarray  # CV_16SC2
    map2: np.ndarray  # CV_16UC1
    scale: np.ndarray  # (h, w) float32: flat-field gain / 255


class Rectifier:
    """Built once per profile and model input; `__call__` fills the model tensor."""

    def __init__(
        self, full_xy: np.ndarray, gain: np.ndarray | None, input_hw: tuple[int, int]
    ) -> None:
        self.full_xy = full_xy  # (H, W, 2) float32: x and y in one array, one resize
        # kept divided by 255: a region's crop of it is the tensor's scale as it is
        self.scale = None if gain is None else np.asarray(gain / np.float32(255.0), np.float32)
        self.input_hw = input_hw
        self.tensor = np.full((1, 3, *input_hw), PAD_VALUE / 255.0, np.float32)
        self._maps: WindowMaps | None = None
        self._window: np.ndarray | None = None
        self._planes: tuple[np.ndarray, ...] = ()
        self._grey = np.empty((0, 0), np.uint8)
        # the window each tensor's padding was last painted around (by the tensor's id:
        # a lane's slots live as long as the rectifier)
        self._painted: dict[int, Geometry] = {}

    @classmethod
    def build(
        cls,
        camera_matrix: np.ndarray,
        dist_coeffs: np.ndarray,
        frame_wh: tuple[int, int],
        gain: np.ndarray | None,
        input_hw: tuple[int, int],
    ) -> Rectifier:
        full_xy, _ = cv2.initUndistortRectifyMap(
            camera_matrix, dist_coeffs, None, camera_matrix, frame_wh, cv2.CV_32FC2
        )
        if gain is not None:  # measured on raw pixels: resample it once into undistorted ones
            gain = cv2.remap(gain, full_xy, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cls(full_xy, gain, input_hw)

    def maps_for(self, region: Region) -> WindowMaps:
        """The window maps of `region` (cached while the region stays the same)."""
        if self._maps is not None and self._maps.region == region:
            return self._maps
        geometry = Geometry.compute((region.y1 - region.y0, region.x1 - region.x0), self.input_hw)
        w, h = geometry.resized_wh
        rows, cols = slice(region.y0, region.y1), slice(region.x0, region.x1)
        # cv2.resize maps window pixel centres to region pixel centres as the letterbox's
        # own resize does, so boxes map back with the same geometry.
        map_xy = cv2.resize(self.full_xy[rows, cols], (w, h), interpolation=cv2.INTER_LINEAR)
        scale: np.ndarray
        if self.scale is None:
            scale = np.full((h, w), 1 / 255.0, np.float32)
        else:
            scale = cv2.resize(self.scale[rows, cols], (w, h), interpolation=cv2.INTER_LINEAR)
        map1, map2 = cv2.convertMaps(map_xy, _NO_MAP, cv2.CV_16SC2)
        self._maps = WindowMaps(region, geometry, map1, map2, scale)
        if self._window is None or self._window.shape[:2] != (h, w):
            self._window = np.empty((h, w, 3), np.uint8)
            self._planes = tuple(np.empty((h, w), np.uint8) for _ in range(3))
            self._grey = np.empty((h, w), np.uint8)
        return self._maps

    def __call__(self, frame: np.ndarray, region: Region) -> tuple[np.ndarray, Geometry]:
        """Fill and return the rectifier's own tensor for `region`."""
        return self.tensor, self.into(self.tensor, frame, region)

    def into(self, tensor: np.ndarray, frame: np.ndarray, region: Region) -> Geometry:
        """Fill `tensor` (1, 3, H, W), RGB 0..1, with `region` of the undistorted image
        of `frame` (BGR or grey), padding included; the geometry maps boxes back to the
        region. Any tensor: a lane's slots each have their own, in the runtime's memory."""
        maps = self.maps_for(region)
        geo = maps.geometry
        w, h = geo.resized_wh
        if self._painted.get(id(tensor)) != geo:
            _paint_padding(tensor, geo)
            self._painted[id(tensor)] = geo
        if tensor.dtype == np.uint8:
            self._into_uint8(tensor, frame, maps)
            return geo
        target = tensor[0, :, geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w]
        if frame.ndim == 2 or frame.shape[2] == 1:
            grey = frame.reshape(frame.shape[:2])
            cv2.remap(grey, maps.map1, maps.map2, cv2.INTER_LINEAR, dst=self._grey)
            for c in range(3):
                np.multiply(self._grey, maps.scale, out=target[c])
            return geo
        window = self._window
        assert window is not None  # allocated with the maps
        cv2.remap(frame, maps.map1, maps.map2, cv2.INTER_LINEAR, dst=window)
        # contiguous planes multiply twice as fast as strided channels
        planes = cv2.split(window, self._planes)
        for c in range(3):  # BGR planes -> RGB tensor, gain and 0..1 in one multiply
            np.multiply(planes[2 - c], maps.scale, out=target[c])
        return geo

    def _into_uint8(self, tensor: np.ndarray, frame: np.ndarray, maps: WindowMaps) -> None:
        """The window of a (1, H, W, 3) uint8 tensor: BGR, remapped straight into it."""
        if self.scale is not None:
            # rounded to whole grey levels, the gain moves a defect map's cells by up to
            # 0.1 (measured on the magnetic-tile model): not the float path's detections
            raise ValueError("a uint8 tensor cannot carry the flat-field gain; use a float one")
        geo = maps.geometry
        w, h = geo.resized_wh
        target = tensor[0, geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w]
        if frame.ndim == 2 or frame.shape[2] == 1:
            grey = frame.reshape(frame.shape[:2])
            cv2.remap(grey, maps.map1, maps.map2, cv2.INTER_LINEAR, dst=self._grey)
            cv2.cvtColor(self._grey, cv2.COLOR_GRAY2BGR, dst=target)
        else:
            cv2.remap(frame, maps.map1, maps.map2, cv2.INTER_LINEAR, dst=target)


def _paint_padding(tensor: np.ndarray, geo: Geometry) -> None:
    """The letterbox grey around the window, painted when the window changes: a float
    (1, C, H, W) tensor's 0..1 grey, or a uint8 (1, H, W, C) one's grey level."""
    w, h = geo.resized_wh
    if tensor.dtype == np.uint8:
        tensor[0, : geo.pad_y] = PAD_VALUE
        tensor[0, geo.pad_y + h :] = PAD_VALUE
        tensor[0, :, : geo.pad_x] = PAD_VALUE
        tensor[0, :, geo.pad_x + w :] = PAD_VALUE
        return
    pad = np.float32(PAD_VALUE / 255.0)
    tensor[0, :, : geo.pad_y, :] = pad
    tensor[0, :, geo.pad_y + h :, :] = pad
    tensor[0, :, :, : geo.pad_x] = pad
    tensor[0, :, :, geo.pad_x + w :] = pad

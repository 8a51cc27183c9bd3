"""One remap equals undistort, crop, letterbox and flat-field done one after another."""

import cv2
import numpy as np
import pytest

from inspector.types import Region
from inspector.vision.letterbox import Letterbox
from inspector.vision.rectify import Rectifier

MATRIX = np.array([[700.0, 0, 330], [0, 705, 250], [0, 0, 1]])
DIST = np.array([-0.2, 0.05, 0.001, -0.001, 0.0])
SIZE = (640, 480)


def frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (60, 80, 3), np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, SIZE, interpolation=cv2.INTER_CUBIC), (0, 0), 2)


@pytest.mark.parametrize(
    ("region", "input_hw", "with_gain"),
    [
        (Region(0, 0, 640, 480), (224, 224), False),
        (Region(100, 60, 400, 280), (224, 224), True),
        (Region(200, 100, 320, 300), (320, 320), True),
    ],
)
def test_matches_the_steps_done_apart(region, input_hw, with_gain):
    image = frame()
    ys, xs = np.mgrid[0:480, 0:640]
    gain = (1 + 0.3 * ((xs - 320) ** 2 + (ys - 240) ** 2) / 400**2).astype(np.float32)
    rectifier = Rectifier.build(MATRIX, DIST, SIZE, gain if with_gain else None, input_hw)
    tensor, geo = rectifier(image, region)
    # the same steps, one full-frame image after another
    flat = image.astype(np.float32) * (gain[..., None] if with_gain else 1)
    undistorted = cv2.undistort(np.clip(flat, 0, 255).astype(np.uint8), MATRIX, DIST)
    crop = region.crop(undistorted)
    expected, expected_geo = Letterbox(input_hw)(np.ascontiguousarray(crop))
    assert geo == expected_geo
    w, h = geo.resized_wh
    window = (
        slice(None),
        slice(None),
        slice(geo.pad_y + 2, geo.pad_y + h - 2),
        slice(geo.pad_x + 2, geo.pad_x + w - 2),
    )
    difference = np.abs(tensor[window] - expected[window]) * 255
    assert np.median(difference) < 2.0 and np.percentile(difference, 99) < 12


def test_a_moving_region_gets_new_maps_and_the_same_one_keeps_them():
    rectifier = Rectifier.build(MATRIX, DIST, SIZE, None, (224, 224))
    first = rectifier.maps_for(Region(0, 0, 200, 200))
    assert rectifier.maps_for(Region(0, 0, 200, 200)) is first
    assert rectifier.maps_for(Region(10, 0, 210, 200)) is not first


def test_a_grey_frame_fills_three_channels_and_the_padding_is_repainted():
    rectifier = Rectifier.build(MATRIX, DIST, SIZE, None, (224, 224))
    tensor = np.zeros((1, 3, 224, 224), np.float32)
    geo = rectifier.into(tensor, frame()[..., 1], Region(0, 0, 640, 480))
    assert geo.pad_y > 0 and np.all(tensor[0, :, 0, :] == np.float32(114 / 255))
    assert np.array_equal(tensor[0, 0], tensor[0, 2])


def test_the_padding_follows_the_window_on_a_reused_tensor():
    rectifier = Rectifier.build(MATRIX, DIST, SIZE, None, (224, 224))
    tensor = np.zeros((1, 3, 224, 224), np.float32)
    wide = rectifier.into(tensor, frame(), Region(0, 0, 640, 200))  # padded above, below
    tall = rectifier.into(tensor, frame(), Region(0, 0, 200, 480))  # padded left, right
    grey = np.float32(114 / 255)
    assert wide.pad_y > 0 and tall.pad_x > 0
    assert np.all(tensor[0, :, :, : tall.pad_x] == grey)
    assert not np.any(tensor[0, :, : wide.pad_y, tall.pad_x : tall.pad_x + 10] == grey)


@pytest.mark.parametrize("grey", [False, True])
def test_a_uint8_tensor_gets_the_float_pixels_in_bgr(grey):
    """A uint8 (1, H, W, 3) tensor (the folded OpenVINO model's) holds the float tensor's
    pixels in BGR order, padding included."""
    image = frame()
    if grey:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    rectifier = Rectifier.build(MATRIX, DIST, SIZE, None, (224, 224))
    region = Region(100, 60, 400, 280)
    want, want_geo = rectifier(image, region)
    tensor = np.zeros((1, 224, 224, 3), np.uint8)
    assert rectifier.into(tensor, image, region) == want_geo
    expected = want[0].transpose(1, 2, 0)[:, :, ::-1] * 255
    assert np.abs(tensor[0] - expected).max() < 1e-3
    assert tensor[0, 0, 0, 0] == 114  # the padding, painted in grey levels


def test_a_uint8_tensor_refuses_a_flat_field_gain():
    gain = np.ones((480, 640), np.float32)
    rectifier = Rectifier.build(MATRIX, DIST, SIZE, gain, (224, 224))
    tensor = np.zeros((1, 224, 224, 3), np.uint8)
    with pytest.raises(ValueError, match="flat-field gain"):
        rectifier.into(tensor, frame(), Region(0, 0, 640, 480))

import cv2
import numpy as np
import pytest

from inspector.vision.letterbox import Geometry, Letterbox


def reference(frame: np.ndarray, size: int) -> np.ndarray:
    """The letterbox written the plain way: resize, pad with 114, BGR->RGB, /255."""
    geo = Geometry.compute(frame.shape[:2], (size, size))
    resized = cv2.resize(frame, geo.resized_wh, interpolation=cv2.INTER_LINEAR)
    h, w = resized.shape[:2]
    padded = cv2.copyMakeBorder(
        resized,
        geo.pad_y,
        size - h - geo.pad_y,
        geo.pad_x,
        size - w - geo.pad_x,
        cv2.BORDER_CONSTANT,
        value=(114, 114, 114),
    )
    return padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255


@pytest.mark.parametrize("shape", [(200, 300, 3), (300, 200, 3), (320, 320, 3), (90, 600, 3)])
def test_matches_reference(shape):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, shape, dtype=np.uint8)
    tensor, _ = Letterbox((320, 320))(frame)
    assert np.abs(tensor - reference(frame, 320)).max() < 1e-6


def test_grey_frame_feeds_three_channels():
    grey = np.random.default_rng(1).integers(0, 255, (100, 150), dtype=np.uint8)
    tensor, _ = Letterbox((160, 160))(grey)
    expected = reference(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 160)
    assert np.abs(tensor - expected).max() < 1e-6


def test_buffers_are_reused_and_repainted_on_size_change():
    box = Letterbox((64, 64))
    tall = np.zeros((64, 32, 3), np.uint8)
    first, _ = box(tall)
    wide = np.zeros((32, 64, 3), np.uint8)
    second, geo = box(wide)
    assert first is second
    # where the tall frame was black, the wide one has padding now
    assert second[0, 0, 0, 32] == pytest.approx(114 / 255)
    assert (geo.pad_x, geo.pad_y) == (0, 16)


def test_one_channel_model_gets_grey():
    frame = np.zeros((10, 10, 3), np.uint8)
    frame[..., 2] = 255  # pure red
    tensor, _ = Letterbox((10, 10), channels=1)(frame)
    assert tensor.shape == (1, 1, 10, 10)
    assert tensor[0, 0, 5, 5] == pytest.approx(76 / 255, abs=1 / 255)


def test_a_tensor_swapped_in_before_the_first_frame_gets_its_padding():
    """TensorRT replaces the tensor with page-locked memory, uninitialised."""
    box = Letterbox((64, 64))
    box.tensor = np.full((1, 3, 64, 64), np.nan, np.float32)
    tensor, _ = box(np.zeros((32, 64, 3), np.uint8))
    assert not np.isnan(tensor).any()
    assert tensor[0, 0, 0, 0] == pytest.approx(114 / 255)


@pytest.mark.parametrize(
    "rows_cols", [(slice(10, 330), slice(50, 370)), (slice(0, 200), slice(100, 400))]
)
def test_a_crop_view_of_a_bigger_frame_matches_reference(rows_cols):
    """The presence trigger hands over the part as a view into the frame: rows apart."""
    frame = np.random.default_rng(2).integers(0, 255, (400, 900, 3), dtype=np.uint8)
    view = frame[rows_cols]
    tensor, _ = Letterbox((320, 320))(view)
    assert np.abs(tensor - reference(np.ascontiguousarray(view), 320)).max() < 1e-6


def as_uint8_nhwc(tensor: np.ndarray, bgr: bool = True) -> np.ndarray:
    """A float (1, C, H, W) 0..1 tensor as the uint8 (1, H, W, C) the folded model takes."""
    pixels = np.rint(tensor[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    return (pixels[:, :, ::-1] if bgr else pixels)[None]


@pytest.mark.parametrize("shape", [(200, 300, 3), (300, 200, 3), (320, 320, 3), (100, 150)])
@pytest.mark.parametrize("channels", [3, 1])
def test_uint8_holds_the_float_letterbox_pixels(shape, channels):
    """The uint8 NHWC tensor (BGR, or grey) is the float one before its conversion."""
    frame = np.random.default_rng(2).integers(0, 255, shape, dtype=np.uint8)
    want, want_geo = Letterbox((320, 320), channels)(frame)
    letterbox = Letterbox((320, 320), channels, uint8=True)
    have, geo = letterbox(frame)
    assert have is letterbox.tensor and have.dtype == np.uint8
    assert have.shape == (1, 320, 320, channels) and geo == want_geo
    np.testing.assert_array_equal(have, as_uint8_nhwc(want, bgr=channels == 3))


def test_uint8_padding_is_repainted_on_size_change():
    letterbox = Letterbox((160, 160), uint8=True)
    tensor, _ = letterbox(np.full((160, 80, 3), 7, np.uint8))  # tall: pads left and right
    assert tensor[0, 0, 0, 0] == 114 and tensor[0, 80, 80, 0] == 7
    again, geo = letterbox(np.full((80, 160, 3), 9, np.uint8))  # wide: pads top and bottom
    assert again is tensor and geo.pad_x == 0
    assert again[0, 0, 0, 0] == 114 and again[0, 80, 0, 0] == 9

import numpy as np
import pytest

from inspector.config import LocateConfig
from inspector.vision.parts import PartLocator

H, W = 60, 240


def frame_with(*parts: tuple[int, int]) -> np.ndarray:
    """Bright parts (x0, width), rows 15..45, on a dark belt."""
    image = np.full((H, W, 3), 20, np.uint8)
    for x0, width in parts:
        image[15:45, x0 : x0 + width] = 200
    return image


@pytest.mark.parametrize(
    ("parts", "position", "expected_x"),
    [
        ([(100, 40)], 0.5, (98, 142)),  # one part: it, with the 2 px margin
        ([(10, 40), (100, 40), (190, 40)], 0.5, (98, 142)),  # the one nearest the middle
        ([(10, 40), (100, 40), (190, 40)], 0.1, (8, 52)),
        ([(10, 40), (100, 40), (190, 40)], 0.9, (188, 232)),
        ([], 0.5, None),  # nothing on the belt
        ([(0, W)], 0.5, None),  # the whole band lit: a lighting glitch, not a part
        ([(100, 5)], 0.5, None),  # shorter than min_length_px: noise
    ],
)
def test_locator_picks_the_part_nearest_the_position(parts, position, expected_x):
    locate = PartLocator(LocateConfig(threshold=100, position=position, margin_px=2))
    region = locate(frame_with(*parts))
    if expected_x is None:
        assert region is None
    else:
        assert (region.x0, region.x1) == expected_x
        assert (region.y0, region.y1) == (13, 47)

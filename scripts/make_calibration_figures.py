"""Make docs/calibration/*.png and calibration/demo.yaml from rendered boards.

Every image here is rendered (inspector.calibrate.synthetic): a ChArUco board seen
through a known camera, a plain target with a vignette, a golden scene; nothing is
copied from a dataset. Run from the repository root:

    .venv/bin/python scripts/make_calibration_figures.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from inspector.calibrate.boards import BoardKind, BoardSpec, render_board
from inspector.calibrate.corners import CornerFinder
from inspector.calibrate.drift import check_drift
from inspector.calibrate.lighting import measure_quality
from inspector.calibrate.profile import IntrinsicsSection, new_profile, save_profile
from inspector.calibrate.report import (
    check_report,
    intrinsics_report,
    lighting_report,
    scale_report,
)
from inspector.calibrate.scale import measure_scale
from inspector.calibrate.synthetic import Camera, Pose, render_view, spread_poses
from inspector.calibrate.workflow import baseline_of, profile_with_lighting, run_intrinsics
from inspector.demo import DEMO_VIDEO

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "calibration"
BOARD = BoardSpec(BoardKind.CHARUCO, 9, 6, 25.0, 18.0, "DICT_5X5_100")
CAMERA = Camera(
    np.array([[800.0, 0, 322.0], [0, 805.0, 238.0], [0, 0, 1]]),
    np.array([-0.25, 0.08, 0.001, -0.0005, 0.0]),
    (640, 480),
)


def vignette(shape: tuple[int, int], strength: float) -> np.ndarray:
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    r = np.hypot(xs - w / 2, ys - h / 2) / np.hypot(w / 2, h / 2)
    return (1 - strength * r**2).astype(np.float32)


def golden_scene() -> np.ndarray:
    board = render_board(BOARD, 2.5, 1.0)
    return (cv2.resize(board, CAMERA.size, interpolation=cv2.INTER_AREA) * 0.8 + 20).astype(
        np.uint8
    )


def intrinsics_figure(tmp: Path) -> IntrinsicsSection:
    for i, pose in enumerate(spread_poses(BOARD, CAMERA, 12)):
        image = render_view(BOARD, CAMERA, pose, noise=2.0, blur=0.8, seed=i)
        cv2.imwrite(str(tmp / f"view{i:02d}.png"), image)
    result, views = run_intrinsics(BOARD, tmp, fit_k3=False)
    intrinsics_report(result, views, OUT / "intrinsics.png")
    return IntrinsicsSection(
        camera_matrix=tuple(tuple(float(v) for v in r) for r in result.camera_matrix),
        dist_coeffs=tuple(float(v) for v in result.dist_coeffs),
        rms_px=result.rms,
        views=len(result.view_errors),
        board=BOARD.describe(),
    )


def scale_figure(intrinsics: IntrinsicsSection) -> None:
    rotation, _ = cv2.Rodrigues(np.array([np.radians(12.0), 0.0, 0.0]))
    centre = np.array([112.5, 75.0, 0.0])
    pose = Pose(cv2.Rodrigues(rotation)[0].ravel(), np.array([0.0, 0.0, 600.0]) - rotation @ centre)
    image = render_view(BOARD, CAMERA, pose, noise=1.5, blur=0.7)
    corners = CornerFinder(BOARD).find(image)
    assert corners is not None  # a rendered, frontal-ish board is always found
    scale_report(measure_scale(corners, intrinsics), image, OUT / "scale.png")


def lighting_and_check_figures() -> None:
    golden = golden_scene()
    flat = np.clip(200 * vignette(golden.shape, 0.35), 0, 255).astype(np.uint8)
    quality, flat_quality = measure_quality(golden), measure_quality(flat)
    lighting_report(quality, golden, flat_quality, OUT / "lighting.png")
    baseline = baseline_of(quality, flat_quality, golden)
    drifted = cv2.GaussianBlur((golden * 0.85).astype(np.uint8), (0, 0), 1.8)
    result = check_drift(baseline, [measure_quality(drifted)], golden.shape[1])
    check_report(result, drifted, OUT / "check.png")


def demo_profile() -> None:
    """calibration/demo.yaml for the demo recording (1024 x 320). The recording was
    rendered, not filmed, so its camera has no real intrinsics: the profile carries a
    mild, made-up lens and lamp so that `bench --calibration` and the demo exercise the
    whole path; it says so in measured_by."""
    capture = cv2.VideoCapture(str(DEMO_VIDEO))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"{DEMO_VIDEO}: cannot read the demo recording")
    h, w = frame.shape[:2]
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    intrinsics = IntrinsicsSection(
        camera_matrix=((1400.0, 0.0, w / 2), (0.0, 1400.0, h / 2), (0.0, 0.0, 1.0)),
        dist_coeffs=(-0.05, 0.0, 0.0, 0.0, 0.0),
        rms_px=0.0,
        views=1,
        board="none: made up for the rendered demo recording",
    )
    path = ROOT / "calibration" / "demo.yaml"
    by = "scripts/make_calibration_figures.py (synthetic: the demo recording is rendered)"
    profile = new_profile("demo", (w, h), by).model_copy(
        update={"intrinsics": intrinsics, "roi": (0, 0, w, h)}
    )
    save_profile(profile, path)
    with tempfile.TemporaryDirectory() as tmp:
        flat = Path(tmp) / "flat.png"
        cv2.imwrite(str(flat), np.clip(200 * vignette((h, w), 0.15), 0, 255).astype(np.uint8))
        profile_with_lighting(
            measure_quality(grey), grey, flat, measure_quality(cv2.imread(str(flat), 0)), path, by
        )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        intrinsics = intrinsics_figure(Path(tmp))
    scale_figure(intrinsics)
    lighting_and_check_figures()
    demo_profile()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()

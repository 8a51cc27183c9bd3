"""`--report out.png`: one picture per calibrate command, so an engineer sees at a
glance what to fix (matplotlib, Agg backend; the `report` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.calibrate.drift import DriftCheck
from inspector.calibrate.intrinsics import Intrinsics, View
from inspector.calibrate.lighting import Quality
from inspector.calibrate.scale import Scale
from inspector.errors import ConfigError

__all__ = [
    "check_report",
    "figure",
    "intrinsics_report",
    "lighting_report",
    "residuals",
    "save",
    "scale_report",
]


def figure(columns: int, rows: int = 1, width: float = 5.0) -> tuple[Any, Any]:
    """A matplotlib figure and its axes, or one line saying how to get matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display; must come before pyplot
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError("--report needs matplotlib: pip install 'inspector[report]'") from None
    fig, axes = pyplot.subplots(rows, columns, figsize=(width * columns, width * 0.8 * rows))
    return fig, np.atleast_1d(axes).ravel()


def save(fig: Any, out: Path) -> Path:
    from matplotlib import pyplot

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    pyplot.close(fig)
    return out


def residuals(result: Intrinsics, view: View) -> np.ndarray:
    """(N, 2) detected minus reprojected corner positions of one view, px."""
    corners = view.corners
    _, rvec, tvec = cv2.solvePnP(
        corners.object_points, corners.image_points, result.camera_matrix, result.dist_coeffs
    )
    projected, _ = cv2.projectPoints(
        corners.object_points, rvec, tvec, result.camera_matrix, result.dist_coeffs
    )
    return np.asarray(corners.image_points - projected.reshape(-1, 2))


def intrinsics_report(result: Intrinsics, views: list[View], out: Path) -> Path:
    """Corners and coverage, per-view errors, and the residual field."""
    fig, (cover, bars, field) = figure(3)
    w, h = result.image_size
    used = [v for v in views if v.name in result.view_errors]
    cover.imshow(~result.covered, extent=(0, w, h, 0), cmap="Reds", alpha=0.35, vmin=0, vmax=1.5)
    for view in views:
        xy = view.corners.image_points
        cover.plot(xy[:, 0], xy[:, 1], ".", ms=2, color="tab:blue" if view in used else "red")
    cover.set(xlim=(0, w), ylim=(h, 0), aspect="equal")
    cover.set_title(f"corners, coverage {result.coverage:.0%} (red: no corner yet)")
    names = list(result.view_errors) + list(result.rejected)
    errors = list(result.view_errors.values()) + list(result.rejected.values())
    colours = ["tab:blue"] * len(result.view_errors) + ["red"] * len(result.rejected)
    bars.bar(range(len(names)), errors, color=colours)
    bars.axhline(result.rms, color="k", lw=0.8, ls="--", label=f"RMS {result.rms:.3f} px")
    bars.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    bars.set(ylabel="reprojection error, px", title="per view (red: rejected)")
    bars.legend()
    points = np.vstack([v.corners.image_points for v in used])
    arrows = np.vstack([residuals(result, v) for v in used])
    gain = 0.05 * w / max(float(np.abs(arrows).max()), 1e-6)
    field.quiver(
        points[:, 0],
        points[:, 1],
        arrows[:, 0],
        -arrows[:, 1],
        scale=1 / gain,
        scale_units="xy",
        width=0.003,
    )
    field.set(xlim=(0, w), ylim=(h, 0), aspect="equal")
    field.set_title(f"residual field (x{gain:.0f})")
    fig.suptitle(f"intrinsics: {result.verdict.upper()}  " + "; ".join(result.problems)[:120])
    return save(fig, out)


def scale_report(scale: Scale, grey: np.ndarray, out: Path) -> Path:
    """The image with each corner coloured by its local mm/px (x and y)."""
    fig, axes = figure(2)
    for ax, axis, name in ((axes[0], 0, "x"), (axes[1], 1, "y")):
        ax.imshow(grey, cmap="gray")
        dots = ax.scatter(
            scale.points[:, 0], scale.points[:, 1], c=scale.local[:, axis], s=12, cmap="viridis"
        )
        fig.colorbar(dots, ax=ax, label=f"mm/px in {name}")
        ax.set_axis_off()
    tilt = "?" if scale.tilt_deg is None else f"{scale.tilt_deg:.2f} deg"
    fig.suptitle(
        f"scale {scale.mm_per_px_x:.5f} x {scale.mm_per_px_y:.5f} mm/px, "
        f"varies {scale.variation:.2%}, tilt {tilt}"
    )
    return save(fig, out)


def _grid(ax: Any, fig: Any, values: np.ndarray, title: str, fmt: str) -> None:
    shown = ax.imshow(values, cmap="magma")
    for (r, c), value in np.ndenumerate(values):
        ax.text(c, r, format(value, fmt), ha="center", va="center", fontsize=6, color="c")
    fig.colorbar(shown, ax=ax)
    ax.set_title(title)
    ax.set_axis_off()


def lighting_report(quality: Quality, grey: np.ndarray, flat: Quality | None, out: Path) -> Path:
    """The image, its focus map, its brightness (or the flat target's) per region."""
    fig, (image, focus, light) = figure(3)
    image.imshow(grey, cmap="gray", vmin=0, vmax=255)
    image.set_axis_off()
    image.set_title(
        f"mean {quality.brightness:.0f}, clipped {quality.clipped_bright:.0%}, "
        f"glare {quality.glare:.0%}",
        fontsize=9,
    )
    _grid(
        focus,
        fig,
        quality.region_focus,
        f"focus (Laplacian var.) {quality.focus_laplacian:.0f}",
        ".0f",
    )
    source = flat or quality
    _grid(
        light,
        fig,
        source.region_brightness,
        f"{'flat target' if flat else 'image'} brightness, uniformity {source.uniformity:.2f}",
        ".0f",
    )
    return save(fig, out)


def check_report(result: DriftCheck, first: np.ndarray | None, out: Path) -> Path:
    """A frame, and each figure against its baseline (red: out of tolerance)."""
    fig, (image, bars) = figure(2)
    if first is not None:
        image.imshow(first, cmap="gray", vmin=0, vmax=255)
    image.set_axis_off()
    image.set_title(f"{'GO' if result.go else 'NO-GO'} ({result.frames} frames)")
    names = [i.name for i in result.items]
    ratios = [
        i.measured / i.baseline if i.baseline else 1.0 + i.measured / 100 for i in result.items
    ]
    bars.barh(names, ratios, color=["tab:green" if i.ok else "red" for i in result.items])
    bars.axvline(1.0, color="k", lw=0.8)
    bars.set(xlabel="measured / baseline (position: 1 + px / 100)")
    for row, item in enumerate(result.items):
        bars.text(
            0.02, row, item.limit, va="center", fontsize=7, transform=bars.get_yaxis_transform()
        )
    return save(fig, out)

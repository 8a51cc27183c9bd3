"""The station's calibration profile: one YAML file per station under `calibration/`.

Each `inspector calibrate` command fills its own section (intrinsics, scale, lighting)
and keeps the others. The checksum is the SHA-256 of the profile's canonical JSON
without the checksum itself (and with the flat-field file's own hash inside), so a hand
edit or a damaged file is refused at load; the calibration id that every inspection
record carries is the station name and the checksum's first 12 hex digits.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inspector.config import CalibrationConfig
from inspector.errors import ConfigError

__all__ = [
    "FLAT_SCALE",
    "Baseline",
    "IntrinsicsSection",
    "Profile",
    "ScaleSection",
    "flat_field_path",
    "load_flat_gain",
    "load_profile",
    "new_profile",
    "now",
    "profile_checksum",
    "save_profile",
    "station_profile",
]


FLAT_SCALE = 16384.0  # the flat-field file holds gain x this in 16 bits (gain < 4)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class IntrinsicsSection(_Frozen):
    camera_matrix: tuple[tuple[float, float, float], ...] = Field(min_length=3, max_length=3)
    dist_coeffs: tuple[float, ...] = Field(min_length=4, max_length=8)
    rms_px: float = Field(ge=0)
    views: int = Field(ge=1)
    board: str

    def matrix(self) -> np.ndarray:
        return np.array(self.camera_matrix, np.float64)

    def dist(self) -> np.ndarray:
        return np.array(self.dist_coeffs, np.float64)


class ScaleSection(_Frozen):
    """Millimetres per pixel on the inspection plane, after undistortion."""

    mm_per_px_x: float = Field(gt=0)
    mm_per_px_y: float = Field(gt=0)
    variation: float = Field(ge=0, description="(max - min) / mean of mm/px across the board")
    tilt_deg: float | None = Field(default=None, description="Plane tilt; needs intrinsics.")
    board: str


class Baseline(_Frozen):
    """The golden image figures the drift check compares live frames with."""

    focus_laplacian: float = Field(ge=0)
    tenengrad: float = Field(ge=0)
    brightness: float = Field(ge=0, le=255)
    clipped_dark: float = Field(ge=0, le=1)
    clipped_bright: float = Field(ge=0, le=1)
    uniformity: float = Field(ge=0, le=1)
    glare: float = Field(ge=0, le=1)
    content_xy: tuple[float, float] = Field(description="Centroid of the image's edges, px.")
    health_brightness: float | None = Field(
        default=None, description="inspector.spc.health's brightness of the golden image."
    )
    health_focus: float | None = Field(
        default=None,
        description="inspector.spc.health's focus of the golden image: the "
        "figure the station logs per part, comparable with it.",
    )


class Profile(_Frozen):
    station: str = Field(min_length=1, max_length=64)
    image_size: tuple[int, int] = Field(description="Width, height of the camera's frames.")
    intrinsics: IntrinsicsSection | None = None
    scale: ScaleSection | None = None
    roi: tuple[int, int, int, int] | None = Field(
        default=None, description="x0, y0, x1, y1 of the inspected area, undistorted pixels."
    )
    flat_field: str | None = Field(default=None, description="File beside the profile.")
    flat_field_sha256: str | None = None
    baseline: Baseline | None = None
    measured_at: datetime
    measured_by: str = Field(description="Who ran it, and with what (command, version).")
    checksum: str = ""

    @property
    def calibration_id(self) -> str:
        return f"{self.station}-{self.checksum[:12]}"

    def sealed(self) -> Profile:
        """This profile with its checksum computed."""
        return self.model_copy(update={"checksum": profile_checksum(self)})


def profile_checksum(profile: Profile) -> str:
    doc = profile.model_dump(mode="json", exclude={"checksum"})
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def new_profile(station: str, image_size: tuple[int, int], measured_by: str) -> Profile:
    return Profile(
        station=station,
        image_size=image_size,
        measured_at=now(),
        measured_by=measured_by,
    )


def save_profile(profile: Profile, path: Path) -> Profile:
    """Seal and write atomically; returns the sealed profile."""
    sealed = profile.sealed()
    doc = sealed.model_dump(mode="json", exclude_none=True)
    text = "# inspector calibration profile: written by `inspector calibrate`; do not edit\n"
    text += yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)  # a profile is read by the station's user and committed
    Path(tmp).replace(path)
    return sealed


def load_profile(path: Path, field: str = "profile") -> Profile:
    """Read and verify a profile. Every problem is one ConfigError naming `field`
    (the station.yaml key or the CLI option that named the file)."""
    if not path.is_file():
        raise ConfigError(
            f"{field}: {path} not found; run `inspector calibrate intrinsics --out {path}`"
        )
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile = Profile.model_validate(doc)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{field}: {path} is not a readable profile ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{field}: {path}: {where}: {first['msg']}") from None
    if profile.checksum != profile_checksum(profile):
        raise ConfigError(
            f"{field}: {path} checksum mismatch: the profile was edited or damaged; "
            "re-run `inspector calibrate` or restore it from backup"
        )
    _check_flat_field(profile, path, field)
    return profile


def station_profile(config: CalibrationConfig) -> Profile | None:
    """The profile station.yaml's `calibration:` names, verified; None when disabled."""
    if not config.enabled or config.profile is None:
        return None
    return load_profile(config.profile, "calibration.profile")


def flat_field_path(profile: Profile, profile_path: Path) -> Path | None:
    return profile_path.parent / profile.flat_field if profile.flat_field else None


def load_flat_gain(profile: Profile, profile_path: Path) -> np.ndarray | None:
    """The flat-field gain (float32, raw pixels) of a loaded profile, or None."""
    path = flat_field_path(profile, profile_path)
    if path is None:
        return None
    import cv2

    encoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if encoded is None or encoded.shape[::-1] != tuple(profile.image_size):
        raise ConfigError(f"flat_field: {path} is not a {profile.image_size} 16-bit image")
    return np.asarray(encoded, np.float32) / np.float32(FLAT_SCALE)


def _check_flat_field(profile: Profile, path: Path, field: str) -> None:
    flat = flat_field_path(profile, path)
    if flat is None:
        return
    if not flat.is_file():
        raise ConfigError(
            f"{field}: flat_field {flat} not found; re-run `inspector calibrate lighting`"
        )
    if hashlib.sha256(flat.read_bytes()).hexdigest() != profile.flat_field_sha256:
        raise ConfigError(
            f"{field}: flat_field {flat} checksum mismatch; re-run `inspector calibrate lighting`"
        )

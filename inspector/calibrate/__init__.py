"""`inspector calibrate`: printable targets, camera intrinsics, scale and tilt of the
inspection plane, lighting and image quality, the station's calibration profile and the
drift checks against its golden baseline."""

#!/usr/bin/env bash
# Install an inspector station on an NVIDIA Jetson with JetPack 6 (L4T r36, TensorRT 10).
# Run as root from a checkout: sudo deploy/jetson/install.sh
# Then: deploy/jetson/selftest.sh MODEL.onnx builds the engine and checks it.
set -euo pipefail

PREFIX=/opt/inspector
# the station runtime needs Python >= 3.10: JetPack 6's own python3 is 3.10, the one its
# TensorRT bindings (python3-libnvinfer) are built for (docs/deploy.md, Python 3.10)
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "python3 is $(python3 -V 2>&1 | cut -d' ' -f2): inspector needs >= 3.10 with TensorRT bindings for it (docs/deploy.md)" >&2
    exit 1
fi
CHECKOUT=$(cd "$(dirname "$0")/../.." && pwd)

# TensorRT's Python bindings and OpenCV with GStreamer come with JetPack, as Debian
# packages: the venv sees them (--system-site-packages) instead of pip's builds, which
# have neither the Jetson's TensorRT nor GStreamer.
apt-get update -qq
apt-get install -y -qq python3-venv python3-dev python3-libnvinfer python3-opencv \
    gstreamer1.0-tools nvidia-l4t-gstreamer build-essential
id inspector >/dev/null 2>&1 ||
    useradd --system --home /var/lib/inspector --shell /usr/sbin/nologin \
        --groups video,render inspector
install -d "$PREFIX" /etc/inspector
python3 -m venv --system-site-packages "$PREFIX/.venv"
"$PREFIX/.venv/bin/pip" install --quiet --upgrade pip
# pycuda builds against JetPack's CUDA; opencv stays the system one (GStreamer)
PATH=/usr/local/cuda/bin:$PATH "$PREFIX/.venv/bin/pip" install --quiet pycuda
"$PREFIX/.venv/bin/pip" install --quiet "$CHECKOUT"
# pip's OpenCV has no GStreamer: removed, cv2 is JetPack's (the venv sees system packages)
"$PREFIX/.venv/bin/pip" uninstall --quiet -y opencv-python-headless
cp -n "$CHECKOUT/deploy/station.example.yaml" /etc/inspector/station.yaml
cp "$CHECKOUT/deploy/inspector.service" /etc/systemd/system/inspector.service
systemctl daemon-reload

"$PREFIX/.venv/bin/python" - <<'PY'
import cv2, tensorrt
gst = "GStreamer:                   YES" in cv2.getBuildInformation()
print("TensorRT", tensorrt.__version__, "| OpenCV", cv2.__version__, "GStreamer", gst)
PY
echo "next: sudo nvpmodel -m 0 && sudo jetson_clocks (README.md); deploy/jetson/selftest.sh MODEL.onnx"

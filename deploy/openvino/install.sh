#!/usr/bin/env bash
# Install an inspector station on Ubuntu 22.04/24.04 on an Intel CPU (OpenVINO backend).
# Run as root from a checkout: sudo deploy/openvino/install.sh [--gpu] [--npu]
# Then: edit /etc/inspector/station.yaml, `inspector config check`, enable the service.
set -euo pipefail

PREFIX=/opt/inspector
CHECKOUT=$(cd "$(dirname "$0")/../.." && pwd)
GPU=0; NPU=0
for arg in "$@"; do
    case $arg in
        --gpu) GPU=1 ;;
        --npu) NPU=1 ;;
        *) echo "unknown option $arg (known: --gpu --npu)" >&2; exit 2 ;;
    esac
done

apt-get update -qq
apt-get install -y -qq python3-venv python3-pip
# iGPU / Arc: the compute runtime OpenVINO's GPU plugin needs (notes in README.md)
if [ "$GPU" = 1 ]; then apt-get install -y -qq intel-opencl-icd; fi
if [ "$NPU" = 1 ]; then
    echo "NPU: install the linux-npu-driver release .debs for your kernel first (README.md)" >&2
fi

id inspector >/dev/null 2>&1 ||
    useradd --system --home /var/lib/inspector --shell /usr/sbin/nologin \
        --groups video,render inspector
install -d -o root -g root "$PREFIX" /etc/inspector
python3 -m venv "$PREFIX/.venv"
"$PREFIX/.venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/.venv/bin/pip" install --quiet "$CHECKOUT[openvino]"
cp -n "$CHECKOUT/deploy/station.example.yaml" /etc/inspector/station.yaml
cp "$CHECKOUT/deploy/inspector.service" /etc/systemd/system/inspector.service
systemctl daemon-reload

"$PREFIX/.venv/bin/python" -c "import openvino as ov; print('OpenVINO', ov.__version__, 'devices', ov.Core().available_devices)"
echo "next: edit /etc/inspector/station.yaml; $PREFIX/.venv/bin/inspector config check /etc/inspector/station.yaml; systemctl enable --now inspector"

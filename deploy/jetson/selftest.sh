#!/usr/bin/env bash
# On a Jetson (or any NVIDIA GPU with TensorRT 10), after deploy/jetson/install.sh:
#   deploy/jetson/selftest.sh MODEL.onnx DATA.yaml [FP16|INT8]
# 1. builds the TensorRT engine from the ONNX model (`inspector export --format engine`:
#    the TensorRT 10 API, no Ultralytics; a first build takes minutes),
# 2. checks parity with ONNX Runtime on the data's val split through `inspector eval`
#    (mAP50 within 0.01 at FP16),
# 3. runs `inspector bench` on the engine, overlapped and in line.
# Results go to ./selftest-<date>/ ; exit 1 when parity fails.
set -euo pipefail

MODEL=${1:?usage: selftest.sh MODEL.onnx DATA.yaml [FP16|INT8]}
DATA=${2:?usage: selftest.sh MODEL.onnx DATA.yaml [FP16|INT8]}
PRECISION=${3:-FP16}
BIN=${INSPECTOR_BIN:-/opt/inspector/.venv/bin}
OUT=selftest-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

"$BIN/python" - <<'PY'
import tensorrt, pycuda.autoinit, pycuda.driver as cuda
device = cuda.Device(0)
print("TensorRT", tensorrt.__version__, "| GPU", device.name(), "| sm", "%d%d" % device.compute_capability())
PY

# built through the TensorRT 10 API into models' engines/ folder (the backend's engine
# cache), keyed by the ONNX sha256, TensorRT version, GPU and precision: a second run
# reuses it, a JetPack upgrade builds anew
args=(--weights "$MODEL" --format engine)
if [ "$PRECISION" = INT8 ]; then args+=(--int8 --calib-data "$DATA"); fi
echo "building the $PRECISION engine for $MODEL (minutes on a Jetson, the first time)"
ENGINE=$("$BIN/inspector" export "${args[@]}" | sed -n 's/^exported: //p')
echo "engine: $ENGINE"

"$BIN/inspector" eval --model "$MODEL" --data "$DATA" --json > "$OUT/onnxruntime.json"
"$BIN/inspector" eval --model "$ENGINE" --backend tensorrt --data "$DATA" --json > "$OUT/tensorrt.json"
"$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
ort, trt = (json.load(open(f"{out}/{name}.json")) for name in ("onnxruntime", "tensorrt"))
key = "map50" if "map50" in ort else "part_auroc"
drift = abs(ort[key] - trt[key])
print(f"{key}: ONNX Runtime {ort[key]:.4f}, TensorRT {trt[key]:.4f} (|diff| {drift:.4f})")
sys.exit(0 if drift <= 0.01 else 1)
PY

"$BIN/inspector" bench --model "$ENGINE" --backend tensorrt --json > "$OUT/bench-overlap.json"
"$BIN/inspector" bench --model "$ENGINE" --backend tensorrt --overlap off --json > "$OUT/bench-inline.json"
"$BIN/python" - "$OUT" <<'PY'
import json, sys
for name in ("bench-overlap", "bench-inline"):
    doc = json.load(open(f"{sys.argv[1]}/{name}.json"))
    print(f"{name}: raw {doc['raw_fps']} calls/s, pipeline {doc['pipeline_from_memory_fps']} parts/s, "
          f"p99 over raw {doc['latency_over_raw_p99_ms']} ms (target: <= 1 ms)")
PY

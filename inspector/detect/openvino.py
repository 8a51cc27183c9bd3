"""OpenVINO backend for Intel CPUs, iGPUs and NPUs (the `openvino` extra).

Accepts an Ultralytics OpenVINO export (a `*_openvino_model/` folder or its `.xml`,
with `metadata.yaml` beside it) or an ONNX file, which OpenVINO reads directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from inspector.detect.base import (
    DecodeParams,
    Detector,
    ModelInfo,
    ModelOverrides,
    file_sha256,
    usable_cores,
)
from inspector.detect.config import OpenVinoConfig
from inspector.errors import ModelError
from inspector.vision.letterbox import Letterbox

try:
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor
except ImportError as exc:  # the registry imports this module only when it is chosen
    raise ModelError(
        "the openvino backend needs the 'openvino' extra: pip install 'inspector[openvino]'"
    ) from exc

__all__ = ["OpenVinoDetector", "cpu_has_bf16"]

# f32 keeps results equal to the ONNX model; bf16 (the default on AVX-512 BF16 CPUs) is
# faster but must be validated on the trained model before a line relies on it.

# devices that stand for others (AUTO:GPU,CPU): their candidates are checked instead
VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")


class OpenVinoDetector(Detector[OpenVinoConfig]):
    backend = "openvino"

    def __init__(
        self,
        compiled: ov.CompiledModel,
        info: ModelInfo,
        params: DecodeParams,
        requests: int = 1,
        preprocess: str = "host",
    ):
        output = compiled.outputs[0]
        # model: the compiled model takes the letterbox's uint8 NHWC pixels (see `fold`)
        self.uint8_input = preprocess == "model"
        super().__init__(info, tuple(output.get_partial_shape().to_shape()), params)
        self.compiled = compiled
        self._requests = [compiled.create_infer_request() for _ in range(requests)]
        self.request = self._requests[0]
        self._bound: list[np.ndarray | None] = [None] * requests
        # share the letterbox tensor with the request: no copy per frame
        self._bind(0, self.letterbox.tensor)

    @classmethod
    def open(
        cls,
        path: Path,
        options: OpenVinoConfig,
        params: DecodeParams,
        overrides: ModelOverrides,
        threads: int | None,
    ) -> OpenVinoDetector:
        model_file, metadata = _locate(path)
        core = ov.Core()
        check_device(options.device, core.available_devices)
        if options.cache_dir is not None:
            core.set_property({"CACHE_DIR": str(options.cache_dir)})
        try:
            model = core.read_model(str(model_file))
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0][:160]
            raise ModelError(f"{model_file}: not a loadable OpenVINO model ({reason})") from None
        info = ModelInfo.from_metadata(model_file, file_sha256(model_file), metadata, overrides)
        if options.preprocess == "model":
            model = fold(model, info.channels)
        throughput = options.mode == "throughput"
        try:
            compiled = core.compile_model(model, options.device, compile_config(options, threads))
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0][:160]
            raise ModelError(
                f"model.backend.device: OpenVINO cannot compile for '{options.device}' ({reason})"
            ) from None
        return cls(
            compiled, info, params, options.requests if throughput else 1, options.preprocess
        )

    @property
    def spare_cpu(self) -> bool:
        if self.requests > 1:  # OpenVINO's own streams infer; the worker only waits on them
            return True
        threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))  # 0: one per core
        return 0 < threads < usable_cores()

    @property
    def requests(self) -> int:
        return len(self._requests)

    def new_letterbox(self) -> Letterbox:
        return Letterbox(self.info.input_hw, self.info.channels, uint8=self.uint8_input)

    def _bind(self, slot: int, tensor: np.ndarray) -> None:
        if tensor is self._bound[slot]:
            return
        request = self._requests[slot]
        dtype = np.uint8 if self.uint8_input else np.float32
        if self.uint8_input and (
            tensor.dtype != np.uint8 or tensor.shape[-1] != self.info.channels
        ):
            raise ModelError(
                "openvino with preprocess: model takes the letterbox's uint8 (1, H, W, C) "
                f"tensor, not {tensor.dtype} {tensor.shape}"
            )
        if tensor.flags.c_contiguous and tensor.dtype == dtype:
            # shared, so the binding stays valid for this tensor's next contents
            request.set_input_tensor(ov.Tensor(tensor, shared_memory=True))
            self._bound[slot] = tensor
        else:  # a copy: bound for this call only
            request.set_input_tensor(ov.Tensor(np.ascontiguousarray(tensor, dtype)))
            self._bound[slot] = None

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        self._bind(0, tensor)
        self.request.infer()
        return self.request.get_output_tensor(0).data

    def start(self, slot: int, tensor: np.ndarray) -> None:
        self._bind(slot, tensor)
        self._requests[slot].start_async()

    def wait(self, slot: int) -> np.ndarray:
        request = self._requests[slot]
        request.wait()
        return request.get_output_tensor(0).data


def fold(model: ov.Model, channels: int) -> ov.Model:
    """`model` taking the letterbox's uint8 pixels, (1, H, W, C) BGR (or grey), with the
    conversion to float, the layout change to NCHW, BGR -> RGB and the 1/255 scale folded
    in by OpenVINO's PrePostProcessor: the graph itself still sees RGB 0..1 NCHW."""
    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input().preprocess().convert_element_type(ov.Type.f32)
    if channels == 3:
        tensor.set_color_format(ColorFormat.BGR)
        steps.convert_color(ColorFormat.RGB)
    steps.scale(255.0)
    return ppp.build()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX-512 BF16 or AMX), as OpenVINO
    reports it."""
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def compile_config(options: OpenVinoConfig, threads: int | None) -> dict[str, str | int]:
    """OpenVINO's compile properties for these options."""
    config: dict[str, str | int] = {"INFERENCE_PRECISION_HINT": options.precision}
    if options.mode == "throughput":
        config["PERFORMANCE_HINT"] = "THROUGHPUT"
        config["PERFORMANCE_HINT_NUM_REQUESTS"] = options.requests
    else:
        config["PERFORMANCE_HINT"] = "LATENCY"
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


def check_device(device: str, available: list[str]) -> None:
    """Raise ModelError, naming the field, for a device OpenVINO does not have here
    (GPU.1 is GPU's second card; AUTO:GPU,CPU names its candidates)."""
    present = {name.split(".")[0] for name in available} | set(available)
    root, _, candidates = device.partition(":")
    wanted = [c for c in candidates.split(",") if c] if root in VIRTUAL_DEVICES else [device]
    for name in wanted:
        if name not in present and name.split(".")[0] not in VIRTUAL_DEVICES:
            raise ModelError(
                f"model.backend.device: OpenVINO has no device '{name}' here "
                f"(available: {', '.join(available) or 'none'}; or AUTO, MULTI, HETERO)"
            )


def _locate(path: Path) -> tuple[Path, dict[str, str]]:
    """The file to read and its Ultralytics metadata, from a folder, .xml or .onnx."""
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        if not xmls:
            raise ModelError(f"{path}: no OpenVINO .xml model in this folder")
        path = xmls[0]
    if path.suffix == ".onnx":
        from inspector.detect.onnxmeta import read_onnx_metadata

        return path, read_onnx_metadata(path)
    if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").is_file():
        raise ModelError(f"{path}: no weights file {path.with_suffix('.bin').name} beside the IR")
    meta_file = path.parent / "metadata.yaml"
    if not meta_file.is_file():
        return path, {}
    raw = yaml.safe_load(meta_file.read_text()) or {}
    return path, {k: str(v) if not isinstance(v, str) else v for k, v in raw.items()}

"""ONNX export shared by inspector's own model kinds: one traced graph with the
runtime's input name, checked, then the metadata props the runtime reads."""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx

try:
    import torch
except ImportError:  # pragma: no cover - the trainers say so first
    raise

__all__ = ["INPUT_NAME", "OPSET", "add_metadata", "export_graph"]

OPSET = 17
INPUT_NAME = "images"


def export_graph(module: torch.nn.Module, imgsz: int, target: Path, output_name: str) -> None:
    """Trace `module` on a (1, 3, imgsz, imgsz) input into a checked ONNX file."""
    module = module.eval()
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        # the TorchScript exporter: the dynamo one needs onnxscript, not in the extra
        torch.onnx.export(
            module,
            (dummy,),
            str(raw),
            input_names=[INPUT_NAME],
            output_names=[output_name],
            opset_version=OPSET,
            dynamo=False,
        )
        graph = onnx.load(str(raw))
    onnx.checker.check_model(graph)
    onnx.save(graph, str(target))


def add_metadata(target: Path, metadata: dict[str, str]) -> None:
    """Replace the file's metadata props with `metadata`."""
    graph = onnx.load(str(target))
    del graph.metadata_props[:]
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(target))

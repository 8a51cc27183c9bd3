"""Model cards: the JSON written next to every exported model.

A card says where a model came from (source weights and their sha256, dataset, classes,
input size), how it measured (training-time and deployed-runtime metrics), the
pass/fail threshold chosen for it, and the runtime versions it was exported with.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inspector.errors import ModelError

__all__ = ["CARD_SUFFIX", "ModelCard", "PassFail", "card_path_for", "load_card", "save_card"]

CARD_SUFFIX = ".card.json"
SCHEMA_VERSION = 1


class PassFail(BaseModel):
    """The part-level operating point: a part fails when any detection scores >= threshold."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(ge=0.0, le=1.0, description="reject when max score >= this")
    escape_rate: float | None = Field(None, description="defective parts passed, on `split`")
    false_reject_rate: float | None = Field(None, description="good parts rejected")
    escape_rate_ci95: list[float] | None = Field(None, description="95% Wilson interval")
    false_reject_rate_ci95: list[float] | None = Field(None, description="95% Wilson interval")
    max_escape: float | None = Field(None, description="escape bound the threshold was chosen for")
    data: str | None = Field(None, description="data.yaml these rates were measured on")
    split: str | None = Field(None, description="dataset split these rates were measured on")
    images: int | None = None
    cross_validation: dict[str, Any] | None = Field(
        None, description="spread of the rates over folds, when measured"
    )


class ModelCard(BaseModel):
    """Provenance and measured quality of one exported model."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    name: str
    model_file: str = Field(description="file (or folder) name of the exported model")
    model_sha256: str | None = Field(None, description="sha256 of the model file")
    format: str = Field(description="onnx, openvino or engine")
    task: str = Field("detect", description="detect or defect-map")
    classes: list[str]
    imgsz: list[int] = Field(description="model input height, width")
    half: bool = False
    int8: bool = False
    source_weights: str
    source_weights_sha256: str
    architecture: str | None = None
    pretrained: dict[str, str] | None = Field(
        None, description="initial weights: backbone, package, file, licence, origin"
    )
    dataset: dict[str, Any] = Field(default_factory=dict, description="data.yaml and split sizes")
    training: dict[str, Any] = Field(default_factory=dict, description="epochs, imgsz, time")
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="by source: 'ultralytics_val', 'deployed_<backend>'"
    )
    pass_fail: PassFail | None = None
    runtime_versions: dict[str, str] = Field(default_factory=dict)
    created: str
    notes: list[str] = Field(default_factory=list)


def card_path_for(model_path: Path) -> Path:
    """`best.onnx` -> `best.onnx.card.json`; `best_openvino_model/` -> `..._model.card.json`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + CARD_SUFFIX)


def load_card(model_path: Path) -> ModelCard | None:
    """The card beside a model, None if there is none; a broken card is an error."""
    path = card_path_for(model_path)
    if not path.is_file():
        return None
    try:
        return ModelCard.model_validate_json(path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelError(f"{path}: invalid model card at '{where}': {first['msg']}") from None


def save_card(card: ModelCard, model_path: Path) -> Path:
    """Write atomically: a reader never sees a half-written card."""
    path = card_path_for(model_path)
    text = json.dumps(card.model_dump(mode="json", exclude_none=True), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    # mkstemp makes it 0600: the station's own service user must be able to read it
    os.chmod(tmp, 0o644)
    Path(tmp).replace(path)
    return path

"""`station.yaml`: pydantic v2 models, validated once at load, errors naming the field.

The station's own sections (identity, model, judge, storage, plc, locate) are declared
here; the plug-in sections (camera, trigger, model.backend, sinks) are unions assembled
from the registries, so a new plug-in needs no edit here. Every model forbids unknown
keys and non-finite numbers, and bounds every number.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from inspector.camera.config import FolderCamera, OpenCVCamera, SourceConfig, VideoCamera
from inspector.camera.registry import SOURCES
from inspector.configbase import Backoff, ConfigPath, Name, Section
from inspector.detect.config import BackendConfig
from inspector.detect.registry import BACKENDS
from inspector.errors import ConfigError
from inspector.plc.config import PlcConfig
from inspector.registry import Registry, registries_version
from inspector.sinks.config import SinkConfig
from inspector.sinks.registry import SINKS
from inspector.spc.config import SPC_NAME_MAX, SpcConfig
from inspector.trigger.config import (
    IntervalTrigger,
    LineTrigger,
    ManualTrigger,
    PresenceTrigger,
    TriggerConfig,
)
from inspector.trigger.registry import TRIGGERS
from inspector.vision.config import LocateConfig, PartDetection, Roi
from inspector.web.config import WebConfig

__all__ = [
    "Backoff",
    "CalibrationConfig",
    "ClassRule",
    "FolderCamera",
    "IntervalTrigger",
    "JudgeConfig",
    "LineTrigger",
    "LocateConfig",
    "ManualTrigger",
    "ModelConfig",
    "OpenCVCamera",
    "PartDetection",
    "PresenceTrigger",
    "RecipeConfig",
    "Roi",
    "StationConfig",
    "StationInfo",
    "StorageConfig",
    "VideoCamera",
    "Zone",
    "config_files",
    "config_hash",
    "config_model",
    "load_config",
    "parse_config",
    "read_yaml",
    "recipe_config",
]

MAX_PX = 65535.0


# ---------------------------------------------------------------- model and judge


class ModelConfig(Section):
    path: ConfigPath = Field(description="Exported model (.onnx, OpenVINO folder/.xml, .engine).")
    backend: BackendConfig = Field(
        default_factory=lambda: BACKENDS.default_config("auto"),
        description="Runtime that runs the model: a name (auto, onnxruntime, openvino, tensorrt) "
        "or a mapping with `kind` and that backend's options.",
    )
    threads: int | None = Field(
        None, ge=1, le=256, description="Runtime CPU threads (None: the runtime's choice)."
    )
    overlap: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Infer on a thread beside the inspection worker, two parts deep, so the "
        "next part is prepared and the last judged while the model runs. auto: on when "
        "inference leaves a CPU core free (TensorRT, or fewer runtime threads than cores); "
        "off where inference uses every core, which the worker's thread would only slow.",
    )
    imgsz: int | None = Field(
        None,
        ge=32,
        le=8192,
        description="Square input size for a model with a dynamic input or without Ultralytics "
        "metadata (None: the model's own).",
    )
    conf: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Lowest score the decoder keeps (None: the judge's lowest threshold).",
    )
    iou: float = Field(0.7, gt=0, le=1, description="NMS IoU threshold.")
    max_failures: int = Field(
        3,
        ge=1,
        le=1000,
        description="Consecutive failed inferences that raise the MODEL fault (READY drops "
        "until the fault is reset); each failed part is NO_DECISION either way.",
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _name_is_short_for_defaults(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


class Zone(Section):
    x0: float = Field(ge=0, le=MAX_PX, description="Left, px of the inspected image.")
    y0: float = Field(ge=0, le=MAX_PX, description="Top, px.")
    x1: float = Field(ge=0, le=MAX_PX, description="Right, px.")
    y1: float = Field(ge=0, le=MAX_PX, description="Bottom, px.")

    @model_validator(mode="after")
    def _ordered(self) -> Zone:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError("zone needs x1 > x0 and y1 > y0")
        return self


class ClassRule(Section):
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Score a defect of this class needs (None: the default)."
    )
    min_width_px: float = Field(0, ge=0, le=MAX_PX, description="Narrower boxes are ignored.")
    min_height_px: float = Field(0, ge=0, le=MAX_PX, description="Shorter boxes are ignored.")
    min_width_mm: float = Field(
        0, ge=0, le=MAX_PX, description="Narrower boxes are ignored (needs calibration's scale)."
    )
    min_height_mm: float = Field(
        0, ge=0, le=MAX_PX, description="Shorter boxes are ignored (needs calibration's scale)."
    )
    ignore: bool = Field(False, description="Never fail a part for this class.")


class JudgeConfig(Section):
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Default score threshold; None: the model card's."
    )
    classes: dict[str, ClassRule] = Field(
        default_factory=dict, description="Per-class rules by class name."
    )
    include_zones: list[Zone] = Field(
        default_factory=list,
        max_length=64,
        description="If any: only defects centred inside one count.",
    )
    exclude_zones: list[Zone] = Field(
        default_factory=list, max_length=64, description="Defects centred inside these never count."
    )


# ---------------------------------------------------------------- storage and later sections


class StorageConfig(Section):
    database: ConfigPath = Field(
        Path("inspections.db"),
        validate_default=True,  # resolved against the config's folder like a given path
        description="SQLite store: inspections, events, audit (WAL).",
    )
    images_dir: ConfigPath = Field(
        Path("images"), validate_default=True, description="Folder for archived part images."
    )
    images_quota_mb: float = Field(
        1024.0,
        gt=0,
        le=16_777_216,
        description="Disk quota of the images the station wrote there; oldest removed first.",
    )
    save_failed: bool = Field(True, description="Archive images of FAIL and NO_DECISION parts.")
    save_pass_fraction: float = Field(
        0.01, ge=0, le=1, description="Share of passed parts archived as a sample."
    )
    queue_size: int = Field(
        256, ge=1, le=100_000, description="Records the log sink may hold in memory."
    )


class CalibrationConfig(Section):
    enabled: bool = Field(False, description="Apply the station's calibration profile.")
    profile: ConfigPath | None = Field(
        None,
        validate_default=True,
        description="The profile `inspector calibrate` wrote (calibration/STATION.yaml).",
    )

    @field_validator("profile")
    @classmethod
    def _profile_when_enabled(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("enabled"):
            raise ValueError("required when calibration is enabled")
        return value


class StationInfo(Section):
    name: Name = Field("station-1", description="Station id in logs, MQTT topics, records.")
    line: Name = Field("line-1", description="Production line id.")


class RecipeConfig(Section):
    """One product the station can judge (docs/recipes.md). A section a recipe leaves
    out is the station's own; one it gives replaces the station's section whole."""

    number: int = Field(
        ge=0, le=65535, description="Recipe number: what the PLC writes to RECIPE_REQUEST."
    )
    name: Name = Field(description="Product name, on every record this recipe judged.")
    model: ModelConfig | None = Field(None, description="The detector (None: the station's).")
    judge: JudgeConfig | None = Field(None, description="Pass/fail rules (None: the station's).")
    locate: LocateConfig | None = Field(
        None, description="Part locating for region-less triggers (None: the station's)."
    )
    calibration: CalibrationConfig | None = Field(
        None, description="Calibration profile: scale, ROI, undistortion (None: the station's)."
    )
    trigger: TriggerConfig | None = Field(
        None,
        description="The trigger's parameters for this product: deadline_ms, and the "
        "presence trigger's part detection (None: the station's); its kind must be the "
        "station's.",
    )
    spc: SpcConfig | None = Field(
        None,
        description="SPC monitors (None: the station's): this product's own charts, "
        "limits and alarms, monitor ids prefixed r<number>.",
    )
    preload: bool = Field(
        True,
        description="Open the model at start (within recipe_memory_mb) so a switch takes "
        "milliseconds; false: open it when the recipe is asked for.",
    )


# What a recipe may replace of the station's sections: the one list `recipe_config` reads.
RECIPE_SECTIONS = ("model", "judge", "locate", "calibration", "spc", "trigger")


class StationConfig(Section):
    """The whole station.yaml. Plug-in fields are typed by their base here; the model
    that validates a file is `config_model()`, which narrows them to the registered
    kinds."""

    station: StationInfo = Field(default_factory=StationInfo, description="Identity.")
    camera: SourceConfig = Field(description="Where frames come from.")
    trigger: TriggerConfig = Field(description="When a part is inspected.")
    model: ModelConfig = Field(description="The detector.")
    locate: LocateConfig | None = Field(
        None, description="Find the part in frames of triggers that carry no region."
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="Pass/fail rules.")
    storage: StorageConfig = Field(
        default_factory=dict,  # validated, so its paths resolve
        validate_default=True,
        description="Inspection log.",
    )
    sinks: list[SinkConfig] = Field(
        default_factory=list, max_length=32, description="More places each record goes."
    )
    plc: PlcConfig = Field(default_factory=PlcConfig, description="PLC link over Modbus TCP.")
    spc: SpcConfig = Field(
        default_factory=SpcConfig,
        description="Statistical process control of the station's own parts (docs/spc.md).",
    )
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig,
        description="The calibration profile: scale for mm rules, id on every record "
        "(docs/calibration.md).",
    )
    web: WebConfig = Field(
        default_factory=WebConfig,
        description="Operator dashboard, /metrics, /healthz, /readyz (docs/dashboard.md).",
    )
    recipes: list[RecipeConfig] = Field(
        default_factory=list,
        max_length=256,
        description="Products the PLC or the operator switches between (docs/recipes.md), "
        "or a folder of one YAML file per recipe; empty: one product, the station's own "
        "sections.",
    )
    recipe: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Recipe at the first start (None: the first listed); a restart resumes "
        "the last active one.",
    )
    recipe_memory_mb: float = Field(
        2048.0,
        gt=0,
        le=1_048_576,
        description="Model files preloaded at start may add up to this; recipes beyond it "
        "load on demand.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mqtt_is_a_sink(cls, data: Any) -> Any:
        # the placeholder section of earlier versions: say where MQTT went
        if isinstance(data, dict) and "mqtt" in data:
            raise ValueError(
                "mqtt: MQTT is configured as a sink now: sinks: [{kind: mqtt, host: ...}] "
                "(docs/mqtt.md)"
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _recipes_from_a_folder(cls, data: Any, info: ValidationInfo) -> Any:
        # `recipes: recipes/`: one YAML file per recipe, read in name order
        if isinstance(data, dict) and isinstance(data.get("recipes"), str):
            base = (info.context or {}).get("base")
            folder = Path(data["recipes"])
            folder = (
                Path(base) / folder if base is not None and not folder.is_absolute() else folder
            )
            if not folder.is_dir():
                raise ValueError(f"recipes: {folder} is not a folder of recipe files")
            files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
            data = {**data, "recipes": [read_yaml(path) for path in files]}
        return data

    @model_validator(mode="after")
    def _recipes_unique(self) -> StationConfig:
        seen: dict[int, int] = {}
        for index, recipe in enumerate(self.recipes):
            if recipe.number in seen:
                raise ValueError(
                    f"recipes.{index}.number: {recipe.number} is also recipes."
                    f"{seen[recipe.number]}'s number; each recipe needs its own"
                )
            seen[recipe.number] = index
        if self.recipe is not None and self.recipe not in seen:
            known = sorted(seen) or "none"
            raise ValueError(f"recipe: {self.recipe} is not a configured recipe (known: {known})")
        return self

    @model_validator(mode="after")
    def _recipe_monitor_names_fit(self) -> StationConfig:
        """A recipe's monitor ids are `r<number>.<name>` and must stay names."""
        for index, recipe in enumerate(self.recipes):
            spc = recipe.spc or self.spc
            field = f"recipes.{index}.spc" if recipe.spc else "spc"
            room = SPC_NAME_MAX - len(f"r{recipe.number}.")
            for m_index, monitor in enumerate(spc.monitors):
                if len(monitor.name) > room:
                    raise ValueError(
                        f"{field}.monitors.{m_index}.name: at most {room} characters in "
                        f"recipe {recipe.number} (its charts are r{recipe.number}.<name>)"
                    )
        return self

    @model_validator(mode="after")
    def _recipe_trigger_same_kind(self) -> StationConfig:
        """A switch retunes the running trigger; it cannot replace it with another kind."""
        for index, recipe in enumerate(self.recipes):
            if recipe.trigger is not None and recipe.trigger.kind != self.trigger.kind:
                raise ValueError(
                    f"recipes.{index}.trigger.kind: {recipe.trigger.kind!r} is not the "
                    f"station's trigger kind {self.trigger.kind!r}; a recipe may change the "
                    "trigger's parameters, not its kind"
                )
        return self

    @model_validator(mode="after")
    def _plc_trigger_needs_plc(self) -> StationConfig:
        if self.trigger.kind == "plc" and not self.plc.enabled:
            raise ValueError("trigger.kind 'plc' needs plc.enabled: true")
        return self


def _union(registry: Registry[Any]) -> Any:
    """The registered config models of one kind, told apart by `kind`."""
    models = registry.config_models()
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - a runtime tuple


def _narrowed(model: type[BaseModel], name: str, annotation: Any) -> tuple[Any, Any]:
    """A field of `model` with its type narrowed to `annotation` (whose own metadata,
    such as a discriminator, comes along), description and default kept."""
    base = model.model_fields[name]
    info = FieldInfo.merge_field_infos(
        FieldInfo.from_annotation(annotation),
        description=base.description,
        default=base.default,
        default_factory=base.default_factory,
    )
    return info.annotation, info


@functools.cache
def _assembled(version: int) -> type[StationConfig]:
    model = create_model(
        "ModelConfig",
        __base__=ModelConfig,
        __doc__=ModelConfig.__doc__,
        backend=_narrowed(ModelConfig, "backend", _union(BACKENDS)),
    )
    recipe = create_model(
        "RecipeConfig",
        __base__=RecipeConfig,
        __doc__=RecipeConfig.__doc__,
        model=_narrowed(RecipeConfig, "model", model | None),
        trigger=_narrowed(RecipeConfig, "trigger", _union(TRIGGERS) | None),
    )
    return create_model(
        "StationConfig",
        __base__=StationConfig,
        __doc__=StationConfig.__doc__,
        camera=_narrowed(StationConfig, "camera", _union(SOURCES)),
        trigger=_narrowed(StationConfig, "trigger", _union(TRIGGERS)),
        model=_narrowed(StationConfig, "model", model),
        sinks=_narrowed(StationConfig, "sinks", list[_union(SINKS)]),  # type: ignore[misc]
        recipes=_narrowed(StationConfig, "recipes", list[recipe]),
    )


def config_model() -> type[StationConfig]:
    """The model of station.yaml with every registered plug-in kind."""
    return _assembled(registries_version())


# ---------------------------------------------------------------- loading


_PLAIN = {
    "finite_number": "must be a finite number",
    "missing": "required",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "extra_forbidden": "unknown key (misspelt?)",
    "union_tag_not_found": "needs a `kind`",
}
_BOUNDS = {
    "less_than_equal": ("le", "must be at most"),
    "less_than": ("lt", "must be below"),
    "greater_than_equal": ("ge", "must be at least"),
    "greater_than": ("gt", "must be above"),
    "too_long": ("max_length", "must have at most this many entries:"),
    "string_too_long": ("max_length", "must be at most this many characters:"),
    "string_too_short": ("min_length", "must be at least this many characters:"),
}


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _message(error: ErrorDetails) -> str:
    """Pydantic's message for one error in plain words (no 'Input should be')."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{words} {_number(ctx[key])}"
    if kind == "union_tag_invalid":
        return f"unknown kind '{ctx['tag']}' (known: {ctx['expected_tags']})"
    if kind == "literal_error":
        expected = ctx["expected"]
        if expected in ("True", "False"):
            return f"must be {expected.lower()}"
        return f"must be one of {expected}" if " or " in expected else f"must be {expected}"
    return str(error["msg"]).removeprefix("Value error, ")


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(p) for p in error["loc"])
    message = _message(error)
    return f"{where}: {message}" if where else message


def parse_config(doc: Any, source: str, base: Path | None = None) -> StationConfig:
    """Validate a parsed document; relative paths resolve against `base` when given."""
    if doc is None:
        raise ConfigError(f"{source}: empty (expected a mapping of sections: camera, trigger, ...)")
    if not isinstance(doc, dict):
        got = _YAML_TYPES.get(type(doc), type(doc).__name__)
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {got}")
    try:
        return config_model().model_validate(doc, context={"base": base})
    except ValidationError as exc:
        problems = [f"{source}: {_describe(e)}" for e in exc.errors()]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{problems[0]}{more}", problems) from None


_YAML_TYPES = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a bool"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"line {line}: key '{key}' given twice")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def read_yaml(path: Path) -> Any:
    """The document in `path`: ConfigError naming the file for anything unreadable."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        problem = getattr(exc, "problem", None)
        detail = f" ({problem})" if problem else ""
        raise ConfigError(f"{path}:{where} not valid YAML{detail}") from None


def load_config(path: Path) -> StationConfig:
    """Read and validate station.yaml; relative paths resolve against its folder."""
    path = Path(path)
    return parse_config(read_yaml(path), str(path), base=path.parent)


def config_files(config: BaseModel, where: str = "") -> list[tuple[str, Path]]:
    """Every file or folder a config names (its `ConfigPath` fields), with its field path."""
    found: list[tuple[str, Path]] = []
    for name, value in config:
        field = f"{where}.{name}" if where else name
        if isinstance(value, Path):
            found.append((field, value))
        elif isinstance(value, BaseModel):
            found += config_files(value, field)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += config_files(item, f"{field}.{index}")
    return found


def config_hash(config: StationConfig) -> str:
    """Short sha256 of the validated config: records say which config judged them."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe_config(config: StationConfig, number: int) -> StationConfig:
    """The station's config as recipe `number` runs it: the recipe's sections over the
    station's (the one merge; `config` was validated whole at load, so this cannot fail
    except for a number that names no recipe)."""
    for recipe in config.recipes:
        if recipe.number == number:
            update = {
                name: getattr(recipe, name)
                for name in RECIPE_SECTIONS
                if getattr(recipe, name) is not None
            }
            return config.model_copy(update=update)
    known = sorted(r.number for r in config.recipes) or "none"
    raise ConfigError(f"recipe {number} is not configured (known: {known})")

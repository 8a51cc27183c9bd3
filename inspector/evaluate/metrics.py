"""Detection metrics computed the way Ultralytics' validator computes them.

mAP uses 101-point interpolated AP at IoU 0.50:0.05:0.95; predictions are matched to
ground truth greedily by IoU; precision and recall are read at the confidence that
maximises the smoothed mean F1. Matching Ultralytics keeps our numbers comparable with
the ones people quote, while the predictions come from our own runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "IOU_THRESHOLDS",
    "DetectionStats",
    "ImageMatches",
    "box_iou",
    "match_image",
    "match_predictions",
]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
EPS = 1e-16


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-7)


def match_predictions(pred_cls: np.ndarray, true_cls: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """(n_pred, 10) bool: is each prediction a true positive at each IoU threshold.

    `iou` is (n_true, n_pred). Each ground-truth box and each prediction is used once,
    best IoU first.
    """
    correct = np.zeros((len(pred_cls), len(IOU_THRESHOLDS)), dtype=bool)
    iou = iou * (true_cls[:, None] == pred_cls[None, :])
    for t, threshold in enumerate(IOU_THRESHOLDS):
        matches = np.argwhere(iou >= threshold)
        if not len(matches):
            continue
        order = np.argsort(-iou[matches[:, 0], matches[:, 1]], kind="stable")
        matches = matches[order]
        matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
        matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
        correct[matches[:, 1], t] = True
    return correct


@dataclass(frozen=True)
class ImageMatches:
    """One image's predictions matched to its ground truth: all `DetectionStats` keeps of it,
    so a resample of images re-scores without matching boxes again."""

    tp: np.ndarray  # (n_pred, 10) bool: true positive at each IoU threshold
    conf: np.ndarray  # (n_pred,)
    pred_cls: np.ndarray  # (n_pred,)
    true_cls: np.ndarray  # (n_true,)


def match_image(
    pred_xyxy: np.ndarray,
    pred_score: np.ndarray,
    pred_cls: np.ndarray,
    true_xyxy: np.ndarray,
    true_cls: np.ndarray,
) -> ImageMatches:
    """Match one image's predictions to its ground-truth boxes."""
    if len(true_xyxy) and len(pred_xyxy):
        tp = match_predictions(pred_cls, true_cls, box_iou(true_xyxy, pred_xyxy))
    else:
        tp = np.zeros((len(pred_cls), len(IOU_THRESHOLDS)), dtype=bool)
    return ImageMatches(tp, pred_score, pred_cls, true_cls)


def _compute_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(x, mrec, mpre), x))


def _smooth(y: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    nf = round(len(y) * fraction * 2) // 2 + 1
    pad = np.ones(nf // 2)
    padded = np.concatenate((pad * y[0], y, pad * y[-1]))
    return np.convolve(padded, np.ones(nf) / nf, mode="valid")


@dataclass
class ClassAP:
    ap50: float
    ap50_95: float
    instances: int


@dataclass
class DetectionStats:
    """Accumulates per-image matches; `summary()` gives the dataset's metrics."""

    num_classes: int
    _tp: list[np.ndarray] = field(default_factory=list)
    _conf: list[np.ndarray] = field(default_factory=list)
    _pred_cls: list[np.ndarray] = field(default_factory=list)
    _true_cls: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        pred_xyxy: np.ndarray,
        pred_score: np.ndarray,
        pred_cls: np.ndarray,
        true_xyxy: np.ndarray,
        true_cls: np.ndarray,
    ) -> None:
        self.add_matches(match_image(pred_xyxy, pred_score, pred_cls, true_xyxy, true_cls))

    def add_matches(self, matches: ImageMatches) -> None:
        """Add an image already matched by `match_image`."""
        self._tp.append(matches.tp)
        self._conf.append(matches.conf)
        self._pred_cls.append(matches.pred_cls)
        self._true_cls.append(matches.true_cls)

    def summary(self) -> tuple[dict[str, float], dict[int, ClassAP]]:
        """({precision, recall, map50, map50_95}, {class id: ClassAP})."""
        tp = np.concatenate(self._tp) if self._tp else np.zeros((0, 10), bool)
        conf = np.concatenate(self._conf) if self._conf else np.zeros(0)
        pred_cls = np.concatenate(self._pred_cls) if self._pred_cls else np.zeros(0, int)
        true_cls = np.concatenate(self._true_cls) if self._true_cls else np.zeros(0, int)
        order = np.argsort(-conf, kind="stable")
        tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
        classes, counts = np.unique(true_cls, return_counts=True)
        x = np.linspace(0, 1, 1000)
        ap = np.zeros((len(classes), len(IOU_THRESHOLDS)))
        p_curve = np.zeros((len(classes), 1000))
        r_curve = np.zeros((len(classes), 1000))
        for ci, c in enumerate(classes):
            mask = pred_cls == c
            if not mask.any():
                continue
            tpc = tp[mask].cumsum(0)
            fpc = (1 - tp[mask]).cumsum(0)
            recall = tpc / (counts[ci] + EPS)
            precision = tpc / (tpc + fpc)
            r_curve[ci] = np.interp(-x, -conf[mask], recall[:, 0], left=0)
            p_curve[ci] = np.interp(-x, -conf[mask], precision[:, 0], left=1)
            for t in range(len(IOU_THRESHOLDS)):
                ap[ci, t] = _compute_ap(recall[:, t], precision[:, t])
        per_class = {
            int(c): ClassAP(float(ap[i, 0]), float(ap[i].mean()), int(counts[i]))
            for i, c in enumerate(classes)
        }
        if not len(classes):
            return {"precision": 0.0, "recall": 0.0, "map50": 0.0, "map50_95": 0.0}, per_class
        f1 = 2 * p_curve * r_curve / (p_curve + r_curve + EPS)
        best = int(_smooth(f1.mean(0), 0.1).argmax())
        return {
            "precision": float(p_curve[:, best].mean()),
            "recall": float(r_curve[:, best].mean()),
            "map50": float(ap[:, 0].mean()),
            "map50_95": float(ap.mean()),
        }, per_class

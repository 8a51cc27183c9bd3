"""Which precision `backend: auto` may run an OpenVINO model at: bf16 only where the
model's own card records that `inspector eval --check-bf16` passed on this very file.

bf16 is what OpenVINO's CPU plugin picks by itself on CPUs with AVX-512 BF16 or AMX,
and it is faster (docs/performance.md), but it changed a verdict on the magnetic-tile
model: a line must not get it unless it was measured to match f32 on the model's data.
The check itself (scoring both on a val split, the same gate as INT8) is in
`inspector.quantize`; this module only reads its record, so choosing imports no runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspector.detect.base import file_sha256
from inspector.modelcard import load_card

__all__ = ["BF16_GATE", "PrecisionChoice", "choose_precision"]

BF16_GATE = "bf16_gate"  # the card's metrics key the check writes


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # f32 or bf16
    reason: str

    def __str__(self) -> str:
        return f"{self.precision} ({self.reason})"


def choose_precision(model: Path, cpu_has_bf16: bool) -> PrecisionChoice:
    """bf16 where the card's bf16 check passed for this model file and the CPU computes
    in bf16 natively; else f32, with the reason in words."""
    card = load_card(model) if Path(model).is_file() else None
    gate = card.metrics.get(BF16_GATE) if card is not None else None
    if not isinstance(gate, dict):
        return PrecisionChoice("f32", "no bf16 check on the model's card")
    if gate.get("model_sha256") != file_sha256(model):
        return PrecisionChoice("f32", "the card's bf16 check was made on another model file")
    if not gate.get("passed"):
        reasons = "; ".join(gate.get("reasons") or ()) or "failed"
        return PrecisionChoice("f32", f"bf16 failed the card's check: {reasons}")
    if not cpu_has_bf16:
        return PrecisionChoice("f32", "bf16 passed the card's check, but this CPU has no bf16")
    metric = gate.get("metric", "metric")
    return PrecisionChoice(
        "bf16", f"bf16 passed the card's check: {metric} {gate.get('f32')} -> {gate.get('bf16')}"
    )

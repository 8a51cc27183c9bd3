"""Import Ultralytics so that it never reaches for the network."""

from __future__ import annotations

import os
from types import ModuleType

from inspector.errors import InspectorError

__all__ = ["import_ultralytics"]


def import_ultralytics() -> ModuleType:
    """The ultralytics module, imported offline, or a clear error without the extra."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "True")
    try:
        import ultralytics
    except ImportError:
        raise InspectorError(
            "training needs the 'train' extra: pip install 'inspector[train]' "
            "(brings Ultralytics, AGPL-3.0)"
        ) from None
    return ultralytics

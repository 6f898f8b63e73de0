"""JSON export of result objects (data.json): plain JSON values, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import atomic
from ..results import jsonable


def dumps(payload: Any) -> str:
    """JSON text for ``payload``; NaN and infinities become null (JSON has no NaN)."""
    return json.dumps(jsonable(payload), indent=2, ensure_ascii=False, allow_nan=False)


def write_json(payload: Any, path: str | os.PathLike) -> Path:
    """Write ``payload`` as UTF-8 JSON, atomically (readers never see half a file)."""
    return atomic.write_text(path, dumps(payload))

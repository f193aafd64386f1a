"""JSON in and out, fast, without losing what real scanner data carries.

The Skymap Scanner's Python encoder writes bare ``NaN`` tokens; orjson rejects them on input and would turn them into
``null`` on output. So: orjson when the text is strict JSON, the standard library (which keeps NaN) otherwise.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from .errors import JsonDecodeError

__all__ = ["JsonDecodeError", "dumps", "has_non_finite", "loads", "splice"]


def loads(text: bytes | str) -> tuple[Any, bool]:
    """Parse JSON; also return whether the text held non-finite numbers (NaN/Infinity), so dumps can keep them."""
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text), True
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonDecodeError(f"body is not valid JSON: {exc}") from None


def dumps(value: Any, non_finite: bool = False) -> bytes:
    """Serialise; ``non_finite`` True keeps NaN/Infinity as bare tokens (as they arrived)."""
    if non_finite:
        return json.dumps(value, separators=(",", ":"), allow_nan=True).encode()
    return orjson.dumps(value)


def has_non_finite(value: Any) -> bool:
    """Whether a parsed value holds NaN/Infinity anywhere (for values that did not come from ``loads``)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    return False


def splice(document: dict[str, Any], raw_fields: dict[str, bytes]) -> bytes:
    """``document`` serialised with already-serialised JSON values appended, without parsing them again."""
    head = dumps(document, has_non_finite(document))
    if not raw_fields:
        return head
    parts = [head[:-1]]
    separator = b"," if len(head) > 2 else b""
    for key, raw in raw_fields.items():
        parts.append(separator + orjson.dumps(key) + b":" + raw)
        separator = b","
    parts.append(b"}")
    return b"".join(parts)

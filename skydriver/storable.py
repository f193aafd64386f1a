"""What a stored free-form object may look like: the limits the README's "Limits" section states.

Integers beyond 64 bits and undecodable text never get past ``json_codec``. What is left is the shape of the objects
SkyDriver stores as sent (the scanner's progress, event and scan metadata; the event, kept as JSON text): how deep
they nest (the JSON encoder and MongoDB's BSON both stop at some depth), which keys MongoDB can hold, and how big they
are (a manifest must stay one document under MongoDB's 16 MB).
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import NotStorable

__all__ = ["MAX_DEPTH", "MAX_FREE_FORM_BYTES", "NotStorable", "check_depth", "check_free_form"]

MAX_DEPTH = 64  # nesting of objects and lists inside a free-form object or the event (real events nest 5 deep)
MAX_FREE_FORM_BYTES = 1024 * 1024  # each of progress, event_metadata, scan_metadata as JSON (real ones are < 10 kB)


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise NotStorable if objects/lists nest more than ``max_depth`` deep (the value itself is level 1)."""
    _walk(value, max_depth, check_keys=False)


def check_free_form(value: Any, max_bytes: int = MAX_FREE_FORM_BYTES) -> None:
    """Raise NotStorable unless ``value`` can be stored as a MongoDB value: depth, keys and size within the limits.

    MongoDB refuses field names with a NUL byte and reads names starting with ``$`` as operators: such keys are
    refused rather than rewritten, so what is read back is what was sent. Dots are fine inside a stored value (the
    Skymap Scanner's progress has "est. scan percent").
    """
    _walk(value, MAX_DEPTH, check_keys=True)
    size = len(orjson.dumps(value))
    if size > max_bytes:
        raise NotStorable(f"{size} bytes as JSON; the limit is {max_bytes}")


def _walk(value: Any, max_depth: int, check_keys: bool) -> None:
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children = item.items()
        elif isinstance(item, list):
            children = enumerate(item)  # type: ignore[assignment]
        else:
            continue
        if depth > max_depth:
            raise NotStorable(f"nested more than {max_depth} levels deep (at {path[:200] or 'the top'})")
        is_object = isinstance(item, dict)
        for key, child in children:
            if is_object and check_keys:
                _check_key(key, path)
            if isinstance(child, (dict, list)):
                child_path = (f"{path}.{key}" if path else key) if is_object else f"{path}[{key}]"
                stack.append((child, depth + 1, child_path))


def _check_key(key: str, path: str) -> None:
    where = f"key {key[:80]!r}" + (f" in {path[:200]}" if path else "")
    if "\0" in key:
        raise NotStorable(f"{where} holds a NUL character")
    if key.startswith("$"):
        raise NotStorable(f"{where} starts with '$'")

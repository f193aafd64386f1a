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
    """Depth-first over the containers; a container's path is only spelled out for an error (a progress report is
    walked on every PATCH: formatting a path per container cost more than the walk)."""
    stack: list[_Entry] = [(value, 1, None)]
    while stack:
        entry = stack.pop()
        item, depth, _ = entry
        if isinstance(item, dict):
            if depth > max_depth:
                raise NotStorable(f"nested more than {max_depth} levels deep (at {_path(entry)[:200] or 'the top'})")
            for key, child in item.items():
                if check_keys and key and (key[0] == "$" or "\0" in key):
                    raise NotStorable(_bad_key(key, _path(entry)))
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1, (entry, key)))
        elif isinstance(item, list):
            if depth > max_depth:
                raise NotStorable(f"nested more than {max_depth} levels deep (at {_path(entry)[:200] or 'the top'})")
            for index, child in enumerate(item):
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1, (entry, index)))


# a container met on the walk: itself, its depth, and its parent's entry with its key or index there (None at the top)
_Entry = tuple[Any, int, "tuple[Any, str | int] | None"]


def _path(entry: _Entry) -> str:
    """Where a container is: ``a.b[2].c`` (keys after dots, list indices in brackets; empty at the top)."""
    parts: list[str] = []
    while entry[2] is not None:
        entry, key = entry[2]
        parts.append(f"[{key}]" if isinstance(entry[0], list) else f".{key}")
    return "".join(reversed(parts)).removeprefix(".")


def _bad_key(key: str, path: str) -> str:
    where = f"key {key[:80]!r}" + (f" in {path[:200]}" if path else "")
    if "\0" in key:
        return f"{where} holds a NUL character"
    return f"{where} starts with '$'"

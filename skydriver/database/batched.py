"""Reads of many documents by one field's values, in batches of ``$in``.

The embedded database's ``$in`` costs grow with the square of its values: 100 ids 19 ms, 300 ids 0.12 s, 1,000 ids
1.1 s (measured against a 5,000-document collection through its ``_id`` index); ten batches of 100 read the same
1,000 in 0.16 s. On MongoDB batches cost one round trip each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

IN_BATCH = 100


async def find_in(collection: AsyncCollection, field: str, values: Sequence[Any], projection: dict[str, Any]) -> list[dict[str, Any]]:
    """Every document whose ``field`` is one of ``values``, read ``IN_BATCH`` values at a time."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(values), IN_BATCH):
        found += await collection.find({field: {"$in": list(values[start:start + IN_BATCH])}}, projection).to_list()
    return found

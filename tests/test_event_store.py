"""Events are cached in memory (they never change): bounded by bytes, and a miss reads the database."""

from __future__ import annotations

from skydriver.database.events import EventStore
from skydriver.server import SkyDriver


async def test_cache_is_bounded_and_misses_read_the_database(driver: SkyDriver) -> None:
    store = EventStore(driver.database.events.collection, driver.database.blobs, cache_bytes=2500)
    events = {f"scan{i}": (b'{"e":"' + bytes([65 + i]) * 1000 + b'"}') for i in range(3)}
    for scan_id, event_json in events.items():
        await store.insert(scan_id, await store.text_fields(scan_id, event_json))
        store.remember(scan_id, event_json)
    assert list(store._cache) == ["scan1", "scan2"]  # scan0 evicted to stay under 2500 bytes
    await store.collection.delete_one({"scan_id": "scan2"})
    assert await store.get_json("scan2") == events["scan2"]  # served from memory
    assert await store.get_json("scan0") == events["scan0"]  # read back from the database, then cached
    assert "scan0" in store._cache and await store.get_json("missing") is None

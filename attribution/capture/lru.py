"""A least-recently-used cache bounded by bytes, not by entries: what hostile input can make it hold is
fixed, whatever size each entry has.

One cache is shared by the event loop and the thread pool that runs a site's sync views (which read the
cookie through it). ``put`` holds a lock: unguarded, its size bookkeeping interleaves with another put's and
the cache loses count of what it holds. ``get``, on every request, takes none: it only reads and reorders,
and an entry evicted between the two still answers. Keys must hash and compare in C (str, bytes, int)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """Entries carry a size in bytes (an estimate of what they keep alive); the total stays within
    ``max_bytes`` by evicting the least recently used, and an entry over ``max_entry_bytes`` is never
    kept at all (it is simply computed again when needed)."""

    __slots__ = ("_entries", "_lock", "_max_bytes", "_max_entry_bytes", "size")

    def __init__(self, max_bytes: int, max_entry_bytes: int) -> None:
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._max_bytes = max_bytes
        self._max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._lock = threading.Lock()
        self.size = 0
        """Bytes held now."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        # No lock: each OrderedDict call is atomic under the GIL for keys hashed and compared in C (str,
        # bytes, int), and a get changes no count. Only the entry can vanish between the two calls.
        hit = self._entries.get(key)
        if hit is None:
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager on every hit
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another thread just now: the value read still answers
            pass
        return hit[0]

    def put(self, key: K, value: V, size: int) -> None:
        if size > self._max_entry_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._entries[key] = (value, size)
            self.size += size
            while self.size > self._max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.size -= dropped

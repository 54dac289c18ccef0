"""``LookupSource``: a lookup join's dimension table (Flink's ``LookupTableSource``), cached.

A connector reads the rows of a batch of keys at once (``read``: one SQL query, one Redis
pipeline); ``fetch`` answers from the cache what it can (Flink's ``lookup.cache`` = ``PARTIAL``:
up to ``max_rows`` keys, each kept ``ttl_ms`` after it was read, the oldest evicted first) and
reads the rest. Keys without rows are cached too, so a missing key is not read again and again.

>>> lookup = RedisLookup(...)                 # or JdbcLookup(...)
>>> lookup.open()
>>> lookup.fetch([(1,), (2,)])                # {(1,): [(1, "alice")], (2,): []}
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class LookupCache:
    """Flink's partial lookup cache: ``max_rows`` keys (0: no cache), each kept ``ttl_ms`` (None: until evicted)."""

    max_rows: int = 0
    ttl_ms: int | None = None


class LookupSource(ABC):
    """The rows of a table by the values of its ``key`` columns, read in batches of keys and cached."""

    def __init__(self, key: list[str], cache: LookupCache) -> None:
        self.key = key
        self.cache_options = cache
        self.cache: dict[tuple, tuple[float, list[tuple]]] = {}  # key -> (read at, rows), oldest first

    def open(self) -> None:
        """Connect (in the lookup join's subtask)."""

    @abstractmethod
    def read(self, keys: list[tuple]) -> dict[tuple, list[tuple]]:
        """The rows of each of ``keys`` (values in ``key`` order), read now; keys without rows may be absent."""

    def fetch(self, keys: list[tuple]) -> dict[tuple, list[tuple]]:
        """The rows of each of ``keys`` (every key present; [] when the table has none)."""
        now = time.monotonic()
        ttl_ms, max_rows = self.cache_options.ttl_ms, self.cache_options.max_rows
        found: dict[tuple, list[tuple]] = {}
        missing = []
        for k in keys:
            hit = self.cache.get(k)
            if hit is not None and (ttl_ms is None or (now - hit[0]) * 1000 < ttl_ms):
                found[k] = hit[1]
            else:
                missing.append(k)
        if missing:
            read = self.read(missing)
            for k in missing:
                found[k] = read.get(k, [])
                if max_rows > 0:
                    self.cache.pop(k, None)
                    self.cache[k] = (now, found[k])
            while len(self.cache) > max_rows:
                del self.cache[next(iter(self.cache))]
        return found

    def close(self) -> None:
        """Release the connection."""

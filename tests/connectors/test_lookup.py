"""The lookup cache shared by the jdbc and redis lookups: hits are not read again, entries expire
after their TTL, the oldest are evicted beyond ``max_rows``, and keys without rows are cached too."""

from __future__ import annotations

import time

from rayflink.connectors.lookup import LookupCache, LookupSource


class DictLookup(LookupSource):
    """A dimension table in a dict, counting the keys it reads."""

    def __init__(self, rows: dict, cache: LookupCache) -> None:
        super().__init__(["id"], cache)
        self.rows = rows
        self.reads: list[tuple] = []

    def read(self, keys: list[tuple]) -> dict[tuple, list[tuple]]:
        self.reads += keys
        return {k: [self.rows[k[0]]] for k in keys if k[0] in self.rows}


def test_hits_misses_eviction_and_expiry():
    lookup = DictLookup({1: (1, "a"), 2: (2, "b")}, LookupCache(max_rows=2, ttl_ms=50))
    assert lookup.fetch([(1,), (3,)]) == {(1,): [(1, "a")], (3,): []}
    assert lookup.fetch([(1,), (3,)]) == {(1,): [(1, "a")], (3,): []}  # both cached, the missing key too
    assert lookup.reads == [(1,), (3,)]
    lookup.fetch([(2,)])  # evicts (1,), the oldest
    lookup.fetch([(1,), (3,)])
    assert lookup.reads == [(1,), (3,), (2,), (1,)]
    time.sleep(0.06)
    lookup.rows[3] = (3, "c")
    assert lookup.fetch([(3,)]) == {(3,): [(3, "c")]}  # expired: read again


def test_without_a_cache_every_fetch_reads():
    lookup = DictLookup({1: (1, "a")}, LookupCache())
    lookup.fetch([(1,)])
    lookup.fetch([(1,)])
    assert lookup.reads == [(1,), (1,)] and lookup.cache == {}

"""State: key groups, keyed state backends (hashmap, rocksdb), TTL and timers."""

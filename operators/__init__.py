"""The physical operators run inside tasks; importing this package registers every kind they run
with the core's operator registry (``rayflink.runtime.registry``), which imports it by name."""

from rayflink.operators import (  # noqa: F401 - imported for their @register_operator side effect
    async_wait,
    broadcast,
    cep,
    co,
    join,
    keyed,
    process,
    queryable,
    sinks,
    source,
    sql,
    stateless,
    timestamps,
    window,
)

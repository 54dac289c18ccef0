"""Physical operators of SQL and Table API jobs: their records are ``pyarrow.RecordBatch`` es.
Importing this package registers their kinds (``OperatorKind.SQL_*``) with the operator registry."""

from rayflink.operators.sql import (  # noqa: F401 - imported for their @register_operator side effect
    bridge,
    calc,
    changelog_normalize,
    group_aggregate,
    interval_join,
    join,
    lookup_join,
    over_aggregate,
    rank,
    rows,
    session_window,
    temporal_join,
    window_aggregate,
    window_assign,
)

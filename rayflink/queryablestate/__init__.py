"""Queryable state: read keyed state of a running job from outside it (Flink's queryable state client)."""

from rayflink.errors import QueryableStateError, UnknownJobError, UnknownKvStateError
from rayflink.queryablestate.client import QueryableStateClient

__all__ = ["QueryableStateClient", "QueryableStateError", "UnknownJobError", "UnknownKvStateError"]

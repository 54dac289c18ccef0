"""Flink SQL for rayflink: ``dialect`` (sqlglot, extended for Flink) -> ``planner`` (a typed
``logical`` plan, names and types checked by ``binder``) -> ``optimizer`` (rewrite rules) ->
``translate`` (physical operators of ``rayflink.operators.sql`` on the runtime, exchanging
Arrow record batches). The user-facing API is ``rayflink.table``."""

"""Test support shipped with rayflink (Bytewax's ``bytewax.testing`` role).

- :class:`OperatorHarness` (``rayflink.testing.harness``): one physical operator in-process,
  without Ray; feed it batches, watermarks and processing time and read what it emitted.
- :func:`collect`, :func:`env`, :func:`checkpointed_env` (``rayflink.testing.jobs``): run a job and
  return its records; the environment at a parallelism; one that checkpoints every 100 ms.
- ``rayflink.testing.exactly_once``: a counting job whose output shows any record lost or
  duplicated, and ``chaos``, which kills task executors while a job runs.
- ``rayflink.testing.services``: a tansu Kafka broker and a moto S3 server on free ports, and
  :func:`wait_until` (poll, never sleep).
- ``rayflink.testing.nexmark``: Nexmark's Person/Auction/Bid events as JSON lines (its model,
  deterministic), and what runs its queries needs: statements of a SQL file, the final state of a
  collected changelog and its digest (``python -m rayflink.testing.nexmark --events N``).
- ``rayflink.testing.pytest_plugin``: pytest fixtures for those services and the rule that a test
  not marked ``integration`` may not start Ray (``pytest -p rayflink.testing.pytest_plugin``).

This package sits above everything else: nothing in ``rayflink``, its operators, connectors or
apps imports it.
"""

from rayflink.testing.harness import CollectingOutput, OperatorHarness
from rayflink.testing.jobs import checkpointed_env, collect, env
from rayflink.testing.services import wait_until

__all__ = ["CollectingOutput", "OperatorHarness", "checkpointed_env", "collect", "env", "wait_until"]

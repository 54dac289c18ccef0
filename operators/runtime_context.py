"""The RuntimeContext and keyed state backend an operator hands to its user function."""

from __future__ import annotations

import os
from typing import Any

from rayflink.common.execution_config import global_job_parameters
from rayflink.datastream.functions import RuntimeContext
from rayflink.runtime.operator import StreamOperator


class KeyedStateOperator(StreamOperator):
    """An operator whose keyed state backend (``keyed_backend``, made by ``keyed_backend_for`` on
    a keyed stream) and timers (``timers``, when it keeps any) are checkpointed, restored and
    disposed here."""

    keyed_backend: Any = None
    timers: Any = None

    def snapshot_state(self) -> Any:
        if self.keyed_backend is None:
            return None
        state = {"keyed": self.keyed_backend.snapshot()}
        if self.timers is not None:
            state["timers"] = self.timers.snapshot()
        return state

    def restore_state(self, states: Any) -> None:
        if not states or self.keyed_backend is None:
            return
        self.keyed_backend.restore([s["keyed"] for s in states])
        if self.timers is not None:
            self.timers.restore([s["timers"] for s in states])

    def close(self) -> None:
        if self.keyed_backend is not None:
            self.keyed_backend.dispose()


def keyed_backend_for(op: StreamOperator) -> Any:
    """Create the operator's keyed state backend, or None when it is not on a keyed stream."""
    ctx = op.ctx
    if ctx.state_key_selectors is None:
        return None
    existing = getattr(op, "keyed_backend", None)
    if existing is not None:
        return existing
    factory = ctx.state_backend
    if factory is None:
        from rayflink.datastream.state_backend import state_backend_from_config

        factory = state_backend_from_config(ctx.config)
    working_dir = os.path.join(ctx.working_dir, f"{ctx.uid}-{ctx.subtask_index}")
    os.makedirs(working_dir, exist_ok=True)
    op.keyed_backend = factory.create_keyed_state_backend(
        operator_uid=ctx.uid, max_parallelism=ctx.max_parallelism, key_groups=ctx.key_groups(),
        working_dir=working_dir,
    )
    return op.keyed_backend


def runtime_context_for(op: StreamOperator) -> RuntimeContext:
    """A RuntimeContext for ``op``'s user function (with keyed state on keyed streams)."""
    ctx = op.ctx
    return RuntimeContext(
        task_name=ctx.name, uid=ctx.uid, subtask_index=ctx.subtask_index, parallelism=ctx.parallelism,
        max_parallelism=ctx.max_parallelism, attempt=ctx.attempt, state_backend=keyed_backend_for(op),
        job_parameters=ctx.job_parameters or global_job_parameters(ctx.config),
    )

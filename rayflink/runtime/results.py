"""Typed outcomes: a subtask's ``ExecutionState`` and ``TaskResult``, a job's ``JobStatus``.

The enums are ``str`` enums whose ``str()`` is Flink's name, so what users see (the CLI,
``JobClient.get_job_status()``, JSON) reads exactly as before: ``"RUNNING"``, ``"FINISHED"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayflink.common.types import NameEnum


class JobStatus(NameEnum):
    """A job's status (Flink's ``JobStatus``)."""

    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILING = "FAILING"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    FINISHED = "FINISHED"
    RESTARTING = "RESTARTING"

    def is_terminal(self) -> bool:
        """FINISHED, FAILED or CANCELED: the job does nothing more (Flink's globally terminal states)."""
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED)


class ExecutionState(NameEnum):
    """A subtask's state (Flink's ``ExecutionState``, the ones a subtask here goes through)."""

    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class TaskFailure:
    """Why a subtask (or the job master) failed: the message and where, for the user and the
    restart strategy (``recoverable`` False: restarting cannot help, e.g. state that cannot be restored)."""

    error: str
    operator: str | None = None
    uid: str | None = None
    subtask: int | None = None
    record: str | None = None
    traceback: str | None = None
    recoverable: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The job's ``error`` as its status reports it (JSON-ready)."""
        out: dict[str, Any] = {"status": "FAILED", "error": self.error, "operator": self.operator, "uid": self.uid,
                               "subtask": self.subtask, "record": self.record}
        if self.traceback is not None:
            out["traceback"] = self.traceback
        out["recoverable"] = self.recoverable
        return out


@dataclass(frozen=True)
class TaskResult:
    """What a subtask's run returns to the job master: its final state, metrics and failure."""

    status: ExecutionState
    metrics: dict | None = None
    failure: TaskFailure | None = None

"""PyFlink's ``JobStatus``: the states of a job, as Flink names them."""

from __future__ import annotations

from enum import Enum


class JobStatus(Enum):
    """A job's status (``JobClient.get_job_status()`` returns its name)."""

    CREATED = 0
    RUNNING = 1
    FAILING = 2
    FAILED = 3
    CANCELLING = 4
    CANCELED = 5
    FINISHED = 6
    RESTARTING = 7
    SUSPENDED = 8
    RECONCILING = 9

    def is_globally_terminal_state(self) -> bool:
        """FINISHED, CANCELED or FAILED: the job will not run again."""
        return self in (JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.FAILED)

    def is_terminal_state(self) -> bool:
        return self.is_globally_terminal_state() or self is JobStatus.SUSPENDED

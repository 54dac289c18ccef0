"""PyFlink's ``InputDependencyConstraint``: when a batch task with several inputs may be scheduled.

A setting of Flink's DataSet-era scheduler, kept by PyFlink 2.x as a plain enum that nothing
reads any more; rayflink schedules every task of a job at once (streaming and batch alike), so it
keeps the enum for programs that name it and reads it nowhere either.
"""

from __future__ import annotations

from enum import Enum


class InputDependencyConstraint(Enum):
    """ANY: schedule once any input has data; ALL: once every input has."""

    ANY = 0
    ALL = 1

"""``RuntimeExecutionMode``: STREAMING (default) or BATCH for bounded jobs."""

from __future__ import annotations

import enum


class RuntimeExecutionMode(enum.Enum):
    """How a job runs: continuously (STREAMING) or as a bounded batch job (BATCH)."""

    STREAMING = "STREAMING"
    BATCH = "BATCH"
    AUTOMATIC = "AUTOMATIC"

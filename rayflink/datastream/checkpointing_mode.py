"""``CheckpointingMode``: EXACTLY_ONCE (aligned barriers) or AT_LEAST_ONCE (no alignment)."""

from __future__ import annotations

import enum


class CheckpointingMode(enum.Enum):
    """How barriers are handled at tasks with several input channels."""

    EXACTLY_ONCE = "EXACTLY_ONCE"
    AT_LEAST_ONCE = "AT_LEAST_ONCE"

"""``TimeDomain``: which clock fired a timer."""

from __future__ import annotations

import enum


class TimeDomain(enum.Enum):
    """EVENT_TIME timers fire on watermarks, PROCESSING_TIME timers on the wall clock."""

    EVENT_TIME = 0
    PROCESSING_TIME = 1

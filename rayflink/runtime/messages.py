"""Control events that travel in order with the records on every channel."""

from __future__ import annotations

from dataclasses import dataclass

MAX_WATERMARK = 2**63 - 1
MIN_WATERMARK = -(2**63)


@dataclass(frozen=True)
class Watermark:
    """Event time has reached ``timestamp`` (ms) on this channel."""

    timestamp: int


@dataclass(frozen=True)
class EndOfInput:
    """The sending subtask will send nothing more on this channel."""


@dataclass(frozen=True)
class IdleStatus:
    """The sending subtask is idle (True) or active again (False): skip it in watermark minimums."""

    idle: bool


END_OF_INPUT = EndOfInput()

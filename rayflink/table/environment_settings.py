"""``EnvironmentSettings``: STREAMING or BATCH for a TableEnvironment (PyFlink's builder)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentSettings:
    """>>> EnvironmentSettings.new_instance().in_streaming_mode().build()
    >>> EnvironmentSettings.in_batch_mode()"""

    streaming: bool = True

    class Builder:
        def __init__(self) -> None:
            self._streaming = True

        def in_streaming_mode(self) -> "EnvironmentSettings.Builder":
            self._streaming = True
            return self

        def in_batch_mode(self) -> "EnvironmentSettings.Builder":
            self._streaming = False
            return self

        def build(self) -> "EnvironmentSettings":
            return EnvironmentSettings(self._streaming)

    @staticmethod
    def new_instance() -> "EnvironmentSettings.Builder":
        return EnvironmentSettings.Builder()

    @staticmethod
    def in_streaming_mode() -> "EnvironmentSettings":
        return EnvironmentSettings(True)

    @staticmethod
    def in_batch_mode() -> "EnvironmentSettings":
        return EnvironmentSettings(False)

    def is_streaming_mode(self) -> bool:
        return self.streaming

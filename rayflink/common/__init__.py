"""PyFlink's ``pyflink.common``: types, time, durations, configuration, watermark strategies."""

from rayflink.common.typeinfo import TypeInformation, Types

__all__ = ["TypeInformation", "Types"]

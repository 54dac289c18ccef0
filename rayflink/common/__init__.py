"""PyFlink's ``pyflink.common``: types, time, configuration, watermark strategies."""

from rayflink.common.configuration import Configuration
from rayflink.common.time import Duration, Time
from rayflink.common.typeinfo import TypeInformation, Types
from rayflink.common.watermark import Watermark
from rayflink.common.watermark_strategy import TimestampAssigner, WatermarkGenerator, WatermarkStrategy

__all__ = ["Configuration", "Duration", "Time", "TimestampAssigner", "TypeInformation", "Types",
           "Watermark", "WatermarkGenerator", "WatermarkStrategy"]

"""rayflink: Flink's streaming model (keyed state, event time, checkpoints) in Python on Ray."""

__version__ = "0.1.0"

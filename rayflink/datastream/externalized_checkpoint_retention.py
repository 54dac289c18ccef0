"""``ExternalizedCheckpointRetention`` at PyFlink's path
``pyflink.datastream.externalized_checkpoint_retention`` (defined with ``CheckpointConfig``)."""

from rayflink.datastream.checkpoint_config import ExternalizedCheckpointRetention

__all__ = ["ExternalizedCheckpointRetention"]

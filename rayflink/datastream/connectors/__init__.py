"""Connectors at PyFlink's path ``pyflink.datastream.connectors`` (the code lives in ``connectors``)."""

from rayflink.datastream.connectors.base import (
    DeliveryGuarantee,
    Sink,
    SinkWriter,
    Source,
    SourceReader,
    SourceSplit,
    SplitBatch,
)

__all__ = ["DeliveryGuarantee", "Sink", "SinkWriter", "Source", "SourceReader", "SourceSplit", "SplitBatch"]

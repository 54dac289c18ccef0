"""Connectors at PyFlink's path ``pyflink.datastream.connectors``.

The source and sink contracts (``base``) and the sources the environment itself offers
(``number_seq``, ``collection``) live here, in the core. The other modules re-export a connector
of ``rayflink.connectors`` (the ``connectors/`` folder) in one import, so the code lives in one place.
"""

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

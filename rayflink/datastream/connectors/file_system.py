"""PyFlink path for the file connector (the code lives in ``rayflink.connectors.file``)."""

from rayflink.connectors.file import (
    BucketAssigner,
    BulkFormat,
    DefaultRollingPolicy,
    Encoder,
    FileCommittable,
    FileCompactor,
    FileCompactStrategy,
    FileConnectorError,
    FileSink,
    FileSource,
    FileSourceBuilder,
    FileSourceSplit,
    OnCheckpointRollingPolicy,
    OutputFileConfig,
    ParquetBulkWriters,
    RollingPolicy,
    StreamFormat,
    StreamingFileSink,
)

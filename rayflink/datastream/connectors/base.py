"""The source and sink contracts every connector implements (Flink's FLIP-27/FLIP-143 shape)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any


class DeliveryGuarantee(Enum):
    """What a sink promises after a failure (Flink's ``DeliveryGuarantee``)."""

    EXACTLY_ONCE = "exactly-once"
    AT_LEAST_ONCE = "at-least-once"
    NONE = "none"


@dataclass(frozen=True)
class SourceSplit:
    """A unit of source work (a Kafka partition, a file, a number range) and its position."""

    split_id: str
    payload: Any = None
    finished: bool = False  # read to its end, kept in checkpoints so that discovery does not find it again


@dataclass(frozen=True)
class SplitBatch:
    """Records read from one split; ``timestamps`` are the source's own (e.g. Kafka's), or None.

    With ``side_output`` (an ``OutputTag``) the records go to that side output of the source
    (e.g. a dead-letter output) and do not move the split's watermark.
    """

    split_id: str
    records: list
    timestamps: list | None = None
    side_output: Any = None


class SourceReader(ABC):
    """Reads the splits assigned to one source subtask."""

    @abstractmethod
    def poll(self, max_records: int) -> list[SplitBatch] | None:
        """Up to ``max_records`` records; ``[]`` when none are ready now, ``None`` at end of input."""

    def snapshot_state(self) -> list[SourceSplit]:
        """The assigned splits with their current positions (checkpointed as source state)."""
        return []

    def wait_time(self) -> float:
        """Seconds until data may be ready after an empty poll (rate limits, idle topics)."""
        return 0.001

    def finished_splits(self) -> list[str]:
        """Ids of the splits read to their end since the last call."""
        return []

    def notify_checkpoint_complete(self, checkpoint_id: int, splits: list[SourceSplit]) -> None:
        """Checkpoint ``checkpoint_id`` completed; ``splits`` is what ``snapshot_state`` gave for it."""

    def metrics(self) -> dict[str, int]:
        """Counters reported with the source operator's metrics, e.g. ``num_records_in_errors``
        (Flink's ``numRecordsInErrors``: messages the deserializer skipped)."""
        return {}

    def close(self) -> None:
        """Release connections and files."""


class Source(ABC):
    """A source: splits its work, and creates one reader per source subtask."""

    @abstractmethod
    def is_bounded(self) -> bool:
        """True when every reader reaches the end of input (``execute()`` then returns)."""

    @abstractmethod
    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        """The initial splits; split ``i`` goes to subtask ``i % parallelism``."""

    @abstractmethod
    def create_reader(self, splits: list[SourceSplit], subtask_index: int,
                      parallelism: int) -> SourceReader:
        """A reader for ``splits`` (restored splits carry their saved positions)."""

    def output_type(self) -> Any:
        """The type of the records, when the source knows it."""
        return None

    def restore_splits(self, splits: list[SourceSplit]) -> None:
        """Before readers are created from a checkpoint: ``splits`` are every subtask's restored
        splits, i.e. everything the source had found; discovery must not find them again."""


class WrappedSource(Source):
    """A source that reads through ``source`` and changes its records (``wrap(reader)`` gives the
    reader that does); splitting, restoring and boundedness are ``source``'s."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def is_bounded(self) -> bool:
        return self.source.is_bounded()

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return self.source.create_splits(parallelism)

    def restore_splits(self, splits: list[SourceSplit]) -> None:
        self.source.restore_splits(splits)

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return self.wrap(self.source.create_reader(splits, subtask_index, parallelism))

    @abstractmethod
    def wrap(self, reader: SourceReader) -> SourceReader:
        """The reader of this source over ``reader``, the wrapped source's (a ``WrappedReader``)."""


class WrappedReader(SourceReader):
    """A reader that polls ``reader`` and changes its records; positions, checkpoints, metrics and
    closing are ``reader``'s."""

    def __init__(self, reader: SourceReader) -> None:
        self.reader = reader

    def snapshot_state(self) -> list[SourceSplit]:
        return self.reader.snapshot_state()

    def wait_time(self) -> float:
        return self.reader.wait_time()

    def finished_splits(self) -> list[str]:
        return self.reader.finished_splits()

    def notify_checkpoint_complete(self, checkpoint_id: int, splits: list[SourceSplit]) -> None:
        self.reader.notify_checkpoint_complete(checkpoint_id, splits)

    def metrics(self) -> dict[str, int]:
        return self.reader.metrics()

    def close(self) -> None:
        self.reader.close()


class SinkWriter(ABC):
    """Writes the records of one sink subtask."""

    @abstractmethod
    def write(self, records: list, timestamps: list | None) -> None:
        """Write a batch of records."""

    def flush(self, end_of_input: bool) -> None:
        """Make buffered records durable (at a checkpoint barrier or at end of input)."""

    def close(self) -> None:
        """Release connections and files."""


class Sink(ABC):
    """A sink: creates one writer per sink subtask."""

    @abstractmethod
    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        """A writer for one subtask."""


class StreamTransformer(ABC):
    """A pre-processing topology a sink puts in front of itself (PyFlink's ``StreamTransformer``)."""

    @abstractmethod
    def apply(self, ds: Any) -> Any:
        """The stream the sink writes, built from ``ds`` (the stream ``sink_to`` was called on)."""


class SupportsPreprocessing(ABC):
    """A sink that may need a pre-processing topology: ``sink_to`` applies its transformer first.

    >>> class Upper(StreamTransformer):
    ...     def apply(self, ds):
    ...         return ds.map(str.upper)
    >>> class UpperPrint(Sink, SupportsPreprocessing):   # doctest: +SKIP
    ...     def get_transformer(self):
    ...         return Upper()
    """

    @abstractmethod
    def get_transformer(self) -> StreamTransformer | None:
        """The transformer to apply, or None when the sink writes the stream as it is."""

"""PyFlink's ``pyflink.datastream``: the DataStream API."""

from rayflink.datastream import async_retry_predicates  # noqa: F401 - a submodule PyFlink programs import from here
from rayflink.datastream.async_data_stream import AsyncDataStream
from rayflink.datastream.checkpoint_config import CheckpointConfig, ExternalizedCheckpointRetention
from rayflink.datastream.checkpoint_storage import (
    CheckpointStorage,
    FileSystemCheckpointStorage,
    JobManagerCheckpointStorage,
)
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.data_stream import (
    BroadcastConnectedStream,
    BroadcastStream,
    ConnectedStreams,
    DataStream,
    DataStreamSink,
    KeyedStream,
)
from rayflink.datastream.execution_mode import RuntimeExecutionMode
from rayflink.datastream.functions import (
    AggregateFunction,
    AllWindowFunction,
    AsyncFunction,
    AsyncRetryPredicate,
    AsyncRetryStrategy,
    BroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    CoProcessFunction,
    FilterFunction,
    FlatMapFunction,
    KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    KeySelector,
    MapFunction,
    Partitioner,
    ProcessAllWindowFunction,
    ProcessFunction,
    ProcessWindowFunction,
    ReduceFunction,
    RuntimeContext,
    SinkFunction,
    TimerService,
    WindowFunction,
)
from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.slot_sharing_group import MemorySize, SlotSharingGroup
from rayflink.datastream.state_backend import (
    EmbeddedRocksDBStateBackend,
    HashMapStateBackend,
    PredefinedOptions,
    StateBackend,
)
from rayflink.datastream.stream_execution_environment import StreamExecutionEnvironment
from rayflink.datastream.time_domain import TimeDomain
from rayflink.datastream.window import (
    CountWindow,
    GlobalWindow,
    MergingWindowAssigner,
    TimeWindow,
    Trigger,
    TriggerResult,
    Window,
    WindowAssigner,
)
from rayflink.datastream.windowed_stream import (
    AllWindowedStream,
    CoGroupFunction,
    JoinFunction,
    ProcessJoinFunction,
    WindowedStream,
)

__all__ = [
    "AggregateFunction", "AllWindowFunction", "AllWindowedStream", "AsyncDataStream", "AsyncFunction",
    "AsyncRetryPredicate", "AsyncRetryStrategy", "BroadcastConnectedStream", "BroadcastProcessFunction",
    "BroadcastStream", "CheckpointConfig", "CheckpointStorage", "CheckpointingMode", "CoFlatMapFunction",
    "CoGroupFunction", "CoMapFunction", "CoProcessFunction", "ConnectedStreams", "CountWindow", "DataStream",
    "DataStreamSink", "EmbeddedRocksDBStateBackend", "ExternalizedCheckpointRetention",
    "FileSystemCheckpointStorage", "FilterFunction", "FlatMapFunction", "GlobalWindow", "HashMapStateBackend",
    "JobManagerCheckpointStorage", "JoinFunction", "KeySelector", "KeyedBroadcastProcessFunction",
    "KeyedCoProcessFunction", "KeyedProcessFunction", "KeyedStream", "MapFunction", "MemorySize",
    "MergingWindowAssigner", "OutputTag", "Partitioner", "PredefinedOptions", "ProcessAllWindowFunction",
    "ProcessFunction", "ProcessJoinFunction", "ProcessWindowFunction", "ReduceFunction", "RuntimeContext",
    "RuntimeExecutionMode", "SinkFunction", "SlotSharingGroup", "StateBackend", "StreamExecutionEnvironment",
    "TimeDomain", "TimeWindow", "TimerService", "Trigger", "TriggerResult", "Window", "WindowAssigner",
    "WindowFunction", "WindowedStream",
]

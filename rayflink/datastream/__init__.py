"""PyFlink's ``pyflink.datastream``: the DataStream API."""

from rayflink.datastream.async_data_stream import AsyncDataStream
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
    AsyncFunction,
    AsyncRetryPredicate,
    AsyncRetryStrategy,
    BroadcastProcessFunction,
    KeyedBroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    CoProcessFunction,
    FilterFunction,
    FlatMapFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    KeySelector,
    MapFunction,
    ProcessFunction,
    ReduceFunction,
    RuntimeContext,
    SinkFunction,
)
from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.stream_execution_environment import StreamExecutionEnvironment
from rayflink.datastream.time_domain import TimeDomain
from rayflink.datastream.window import ProcessWindowFunction, WindowFunction
from rayflink.datastream.windowed_stream import (
    AllWindowedStream,
    CoGroupFunction,
    JoinFunction,
    ProcessJoinFunction,
    WindowedStream,
)

__all__ = [
    "AsyncDataStream", "AsyncFunction", "AsyncRetryPredicate", "AsyncRetryStrategy", "BroadcastConnectedStream",
    "BroadcastProcessFunction", "BroadcastStream", "KeyedBroadcastProcessFunction",
    "AggregateFunction", "AllWindowedStream", "CoGroupFunction", "JoinFunction", "ProcessJoinFunction",
    "ProcessWindowFunction", "WindowFunction", "WindowedStream", "CoFlatMapFunction", "CoMapFunction", "CoProcessFunction", "ConnectedStreams",
    "DataStream", "DataStreamSink", "FilterFunction", "FlatMapFunction", "KeyedCoProcessFunction",
    "KeyedProcessFunction", "KeyedStream", "KeySelector", "MapFunction", "OutputTag", "ProcessFunction",
    "ReduceFunction", "RuntimeContext", "RuntimeExecutionMode", "SinkFunction", "StreamExecutionEnvironment",
    "TimeDomain",
]

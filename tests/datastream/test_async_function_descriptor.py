"""``AsyncFunctionDescriptor``: what ``AsyncDataStream`` records of an AsyncFunction and its
options, and what the async wait operator runs (unit tests, no Ray)."""

from __future__ import annotations

import pickle

from rayflink.common import Duration, Time
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.async_data_stream import AsyncDataStream
from rayflink.datastream.async_retry_strategies import NO_RETRY_STRATEGY
from rayflink.datastream.functions import AsyncFunction, AsyncFunctionDescriptor


class Double(AsyncFunction):
    async def async_invoke(self, value):
        return [value * 2]


def descriptor_of(stream) -> AsyncFunctionDescriptor:
    return stream._t.operator.params


def test_the_async_wait_methods_record_a_descriptor_of_the_function_and_its_options():
    numbers = StreamExecutionEnvironment.get_execution_environment().from_collection([1, 2, 3])
    function = Double()
    ordered = descriptor_of(AsyncDataStream.ordered_wait(numbers, function, Time.seconds(2), capacity=10))
    assert isinstance(ordered, AsyncFunctionDescriptor)
    assert (ordered.async_function, ordered.capacity, ordered.async_retry_strategy) == (function, 10, NO_RETRY_STRATEGY)
    assert ordered.output_mode is AsyncFunctionDescriptor.OutputMode.ORDERED and ordered.ordered
    assert ordered.timeout_ms == 2000

    unordered = descriptor_of(AsyncDataStream.unordered_wait(numbers, function, 500))
    assert unordered.output_mode is AsyncFunctionDescriptor.OutputMode.UNORDERED and not unordered.ordered
    assert (unordered.timeout_ms, unordered.capacity) == (500, 100)


def test_a_descriptor_built_as_pyflink_builds_it_reads_its_timeout_and_travels_pickled():
    descriptor = AsyncFunctionDescriptor(Double(), Duration.of_seconds(3), 5, NO_RETRY_STRATEGY,
                                         AsyncFunctionDescriptor.OutputMode.UNORDERED)
    assert descriptor.timeout_ms == 3000 and not descriptor.ordered
    copy = pickle.loads(pickle.dumps(descriptor))  # the job graph is shipped to the job master
    assert copy.output_mode is AsyncFunctionDescriptor.OutputMode.UNORDERED
    assert (copy.timeout_ms, copy.capacity) == (3000, 5)
    assert [m.name for m in AsyncFunctionDescriptor.OutputMode] == ["ORDERED", "UNORDERED"]

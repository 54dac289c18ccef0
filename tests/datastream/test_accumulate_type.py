"""``KeyedStream.AccumulateType``: the rolling aggregations a keyed stream and a window record,
and what each one computes (unit tests, no Ray)."""

from __future__ import annotations

import functools

from hypothesis import given
from hypothesis import strategies as st

from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.data_stream import KeyedStream
from rayflink.operators.keyed import aggregation

AccumulateType = KeyedStream.AccumulateType


def test_each_rolling_aggregation_records_its_accumulate_type():
    keyed = StreamExecutionEnvironment.get_execution_environment().from_collection([("a", 1)]).key_by(lambda t: t[0])
    for method, kind in (("sum", AccumulateType.SUM), ("min", AccumulateType.MIN), ("max", AccumulateType.MAX),
                         ("min_by", AccumulateType.MIN_BY), ("max_by", AccumulateType.MAX_BY)):
        params = getattr(keyed, method)(1)._t.operator.params
        assert (params.aggregation, params.field) == (kind, 1), method
    assert [t.name for t in AccumulateType] == ["MIN", "MAX", "MIN_BY", "MAX_BY", "SUM"]


@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 3)), min_size=1, max_size=20))
def test_each_accumulate_type_computes_flinks_result(records):
    def fold(kind):
        return functools.reduce(aggregation(kind, 0), records)

    first_other = records[0][1]  # MIN/MAX/SUM change the field only: other fields from the first record
    assert fold(AccumulateType.SUM) == (sum(r[0] for r in records), first_other)
    assert fold(AccumulateType.MIN) == (min(r[0] for r in records), first_other)
    assert fold(AccumulateType.MAX) == (max(r[0] for r in records), first_other)
    # MIN_BY/MAX_BY keep the whole record: the first one with the least/greatest field
    assert fold(AccumulateType.MIN_BY) == next(r for r in records if r[0] == min(x[0] for x in records))
    assert fold(AccumulateType.MAX_BY) == next(r for r in records if r[0] == max(x[0] for x in records))


def test_an_aggregation_may_be_named_by_its_type_name():
    assert aggregation("sum", 0)((1, "a"), (2, "b")) == aggregation(AccumulateType.SUM, 0)((1, "a"), (2, "b"))
    assert aggregation("max_by", 0)((1, "a"), (2, "b")) == (2, "b")
    import pytest

    with pytest.raises(ValueError, match="unknown aggregation 'avg'"):
        aggregation("avg", 0)

"""rayflink.testing: the documented harness example runs, and the unit/integration split holds."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rayflink.testing.harness
from rayflink.datastream.window import TumblingEventTimeWindows
from rayflink.graph.transformations import OperatorKind, WindowParams
from rayflink.testing import OperatorHarness

PLUGIN = ["-p", "rayflink.testing.pytest_plugin", "-p", "no:cacheprovider"]


def test_the_operator_harness_example_runs_as_documented() -> None:
    result = doctest.testmod(rayflink.testing.harness)
    assert result.attempted > 0 and result.failed == 0


def _sum_per_key_and_window() -> WindowParams:
    return WindowParams(TumblingEventTimeWindows.of(10), incremental=("sum", 1))


@settings(max_examples=25, deadline=None)
@given(records=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9), st.integers(0, 39)), max_size=40),
       cut=st.integers(0, 40))
def test_a_restored_operator_emits_what_an_uninterrupted_one_emits(records, cut) -> None:
    # Given records (key, value, timestamp) summed per key in 10 ms tumbling windows,
    values = [(k, v) for k, v, _ in records]
    stamps = [t for _, _, t in records]
    whole = OperatorHarness(OperatorKind.WINDOW, _sum_per_key_and_window(), key_selectors=(lambda r: r[0],))
    whole.batch(values, stamps)
    whole.watermark(100)
    # when one operator takes the first records, is snapshotted, and a new one restored from that
    # snapshot takes the rest,
    first = OperatorHarness(OperatorKind.WINDOW, _sum_per_key_and_window(), key_selectors=(lambda r: r[0],))
    first.batch(values[:cut], stamps[:cut])
    state = first.snapshot()
    first.close()
    second = OperatorHarness(OperatorKind.WINDOW, _sum_per_key_and_window(), key_selectors=(lambda r: r[0],),
                             restored_state=[state])
    second.batch(values[cut:], stamps[cut:])
    second.watermark(100)
    # then the windows fire with the same sums as without the restore.
    assert sorted(second.out) == sorted(whole.out)
    whole.close()
    second.close()


def test_a_unit_test_that_starts_ray_fails_before_ray_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_uses_ray="""
        import ray

        def test_runs_a_job():
            ray.init()
    """)
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is a unit test but started Ray*@pytest.mark.integration*"])


def test_tests_using_a_service_are_integration_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    integration: Ray or services\n")
    pytester.makepyfile(test_uses_kafka="""
        def test_reads_kafka(kafka_broker):
            raise AssertionError("deselected: must not run")

        def test_pure():
            assert True
    """)
    result = pytester.runpytest_subprocess(*PLUGIN, "-m", "not integration")
    result.assert_outcomes(passed=1, deselected=1)

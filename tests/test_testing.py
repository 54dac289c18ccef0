"""rayflink.testing: the documented harness example runs, and the unit/integration split holds."""

from __future__ import annotations

import doctest

import pytest

import rayflink.testing.harness

PLUGIN = ["-p", "rayflink.testing.pytest_plugin", "-p", "no:cacheprovider"]


def test_the_operator_harness_example_runs_as_documented() -> None:
    result = doctest.testmod(rayflink.testing.harness)
    assert result.attempted > 0 and result.failed == 0


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

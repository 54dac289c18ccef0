"""pytest plugin: service fixtures, one Ray per session, and unit tests that never start Ray.

Register it with ``pytest_plugins = ["rayflink.testing.pytest_plugin"]`` in a conftest (rayflink's
own ``tests/conftest.py`` does) or ``pytest -p rayflink.testing.pytest_plugin``. It expects the
``integration`` marker to be registered (rayflink's ``pyproject.toml`` does).

- A test marked ``integration`` may start Ray (the first job of the session starts a local Ray; it
  is shut down when the session ends) and use real services. A test using ``kafka_broker`` or
  ``s3_endpoint`` is marked ``integration`` automatically.
- Every other test is a unit test: if it calls ``ray.init`` (directly or by running a job) it fails,
  naming the marker to add. So ``pytest -m "not integration"`` runs without Ray.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

import pytest

from rayflink.testing.services import (
    DUMMY_AWS_ENV,
    FreezableS3,
    KafkaBroker,
    S3Endpoint,
    ServiceUnavailable,
    running_moto_s3,
    running_tansu,
    wait_until,
)

T = TypeVar("T")

INTEGRATION = "integration"
SERVICE_FIXTURES = ("kafka_broker", "s3_endpoint", "freezable_s3", "s3_of_its_own")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a real service are integration tests."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in SERVICE_FIXTURES):
            item.add_marker(INTEGRATION)


@pytest.fixture(autouse=True)
def _unit_tests_never_start_ray(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a test without the ``integration`` marker as soon as it would start or join Ray.

    ``ray.is_initialized`` reads False inside such a test, so a job it runs calls ``ray.init`` (and
    fails here) even when an integration test earlier in the session left Ray running.
    """
    if request.node.get_closest_marker(INTEGRATION) is not None:
        return
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail(f"{request.node.nodeid} is a unit test but started Ray (ray.init); mark it "
                    f"@pytest.mark.{INTEGRATION}, or test the operator in-process with "
                    "rayflink.testing.OperatorHarness", pytrace=True)

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)


@pytest.fixture(scope="session", autouse=True)
def _ray_shutdown_at_end() -> Iterator[None]:
    """One local Ray for the whole session (the first job starts it), shut down at the end."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _running_or_skip(what: str, service: AbstractContextManager[T]) -> Iterator[T]:
    """Yield the started ``service`` and stop it afterwards; skip the test if it cannot start."""
    try:
        running = service.__enter__()
    except ServiceUnavailable as e:
        pytest.skip(f"{what} unavailable: {e}")
    try:
        yield running
    finally:
        service.__exit__(None, None, None)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A tansu broker (memory storage engine) for the whole session; skips if it cannot start."""
    yield from _running_or_skip("Kafka broker", running_tansu(log_dir=tmp_path_factory.mktemp("tansu")))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """A moto S3 server for the whole session, with dummy AWS credentials in ``os.environ``;
    skips if it cannot start."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in DUMMY_AWS_ENV.items():
            mp.setenv(k, v)
        yield from _running_or_skip("S3 endpoint", running_moto_s3())


@pytest.fixture
def freezable_s3() -> Iterator[FreezableS3]:
    """A moto S3 server in a process of its own (thawed and stopped at the end)."""
    server = FreezableS3()
    try:
        wait_until(lambda: server.endpoint.client().list_buckets(), timeout=30,
                   what=f"moto S3 on {server.endpoint.endpoint_url}")
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_of_its_own(freezable_s3: FreezableS3) -> S3Endpoint:
    """A moto S3 server in a process of its own: its buckets exist on no other server, so a Ray
    worker reaches them only through an endpoint that names this one (``AWS_ENDPOINT_URL``, if
    a worker inherited it from the test session, names the session's server)."""
    return freezable_s3.endpoint

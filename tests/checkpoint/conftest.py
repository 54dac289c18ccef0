"""Fixtures of the checkpoint tests: a moto S3 server in a process of its own, which can be frozen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from services import S3Endpoint, free_port, wait_until


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

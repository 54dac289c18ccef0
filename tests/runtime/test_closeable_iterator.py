"""``CloseableIterator``: what ``execute_and_collect`` returns (unit tests against a fake job
manager, no Ray)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rayflink.datastream.data_stream import CloseableIterator
from rayflink.errors import JobExecutionError
from rayflink.runtime import client as client_module
from rayflink.runtime.client import JobClient


class FakeJobManager:
    """Answers a job client's calls: the collect sink's batches, then the job's end."""

    def __init__(self, batches: list[list], final_status: str = "FINISHED") -> None:
        self.pulls = [("DATA", b) for b in batches] + [("END", None)]
        self.final_status = final_status
        self.cancelled = False
        self.collect_pull = SimpleNamespace(remote=lambda job_id, timeout: self.pulls.pop(0))
        self.cancel = SimpleNamespace(remote=self._cancel)
        self.status = SimpleNamespace(remote=lambda job_id: self._status())
        self.metrics = SimpleNamespace(remote=lambda job_id: {})
        self.wait_output = SimpleNamespace(remote=lambda job_id, left: (self._status()["status"], ""))

    def _cancel(self, job_id: str) -> None:
        self.cancelled = True

    def _status(self) -> dict:
        status = "CANCELED" if self.cancelled else self.final_status
        error = {"error": "boom", "operator": "Map"} if status == "FAILED" else None
        return {"status": status, "start_time": 0.0, "end_time": 1.0, "error": error}


@pytest.fixture
def iterator_of(monkeypatch):
    monkeypatch.setattr(client_module, "call", lambda ref: ref)  # the fake answers at once

    def make(batches: list[list], final_status: str = "FINISHED") -> tuple[CloseableIterator, FakeJobManager]:
        manager = FakeJobManager(batches, final_status)
        return CloseableIterator(JobClient("00ab", "collect", manager)), manager

    return make


def test_next_and_iteration_read_every_record_then_stop(iterator_of):
    results, manager = iterator_of([[1, 2], [], [3]])
    assert results.next() == 1
    assert list(results) == [2, 3]
    with pytest.raises(StopIteration):
        results.next()
    results.close()
    assert not manager.cancelled  # the job had ended: nothing to cancel


def test_closing_early_cancels_the_running_job(iterator_of):
    results, manager = iterator_of([[1, 2, 3]], final_status="RUNNING")
    with results:
        assert next(results) == 1
    assert manager.cancelled
    with pytest.raises(StopIteration):
        results.next()


def test_the_end_of_a_failed_job_raises_its_error(iterator_of):
    results, _ = iterator_of([[1]], final_status="FAILED")
    with pytest.raises(JobExecutionError, match="boom"):
        list(results)

"""``JobID``: the type of the id a job client and an execution result report (unit tests, no Ray)."""

from __future__ import annotations

import pytest

from rayflink.common import JobID
from rayflink.runtime.client import JobClient, JobExecutionResult


def test_a_generated_id_is_a_fresh_hex_string():
    ids = {JobID.generate() for _ in range(100)}
    assert len(ids) == 100
    for job_id in ids:
        assert isinstance(job_id, JobID) and isinstance(job_id, str)
        assert JobID.from_hex_string(str(job_id)) == job_id
        assert job_id.to_hex_string() == str(job_id)


def test_the_hex_form_round_trips_and_anything_else_is_refused():
    job_id = JobID.from_hex_string("  00F2A1B3C4D5E6F7 ")
    assert str(job_id) == "00f2a1b3c4d5e6f7" and repr(job_id) == "JobID('00f2a1b3c4d5e6f7')"
    assert job_id == "00f2a1b3c4d5e6f7" and {job_id: 1}["00f2a1b3c4d5e6f7"] == 1  # names the job as a str does
    assert f"/jobs/{job_id}" == "/jobs/00f2a1b3c4d5e6f7"
    for bad in ("", "xyz", "12 34"):
        with pytest.raises(ValueError, match="hex string"):
            JobID.from_hex_string(bad)


def test_job_client_and_execution_result_report_a_job_id():
    client = JobClient("00f2a1b3c4d5e6f7", "job", manager=None)
    result = JobExecutionResult("00f2a1b3c4d5e6f7", "job", 5, {})
    for job_id in (client.get_job_id(), result.get_job_id()):
        assert isinstance(job_id, JobID) and str(job_id) == "00f2a1b3c4d5e6f7"

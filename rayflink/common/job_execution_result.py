"""PyFlink's path ``pyflink.common.job_execution_result`` (the code lives in ``rayflink.runtime.client``)."""

from rayflink.runtime.client import JobExecutionResult  # noqa: F401

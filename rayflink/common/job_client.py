"""PyFlink's path ``pyflink.common.job_client`` (the code lives in ``rayflink.runtime.client``)."""

from rayflink.runtime.client import JobClient  # noqa: F401

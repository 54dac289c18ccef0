"""The rayflink exception hierarchy: every error a user sees names what, where and what to do."""

from __future__ import annotations


class RayflinkError(Exception):
    """Base of every error rayflink raises on purpose."""


class GraphBuildError(RayflinkError, ValueError):
    """The job graph is wrong: raised while the user builds it, naming the operator."""


class ConfigurationError(RayflinkError, ValueError):
    """A configuration option has a value rayflink cannot use: names the option, the value and
    the accepted form. Raised when the value is set and again when the job is submitted; a task
    that meets one fails the job at once (restarting cannot fix it)."""

    def __init__(self, message: str, *, key: str | None = None, value: object = None,
                 accepted: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
        self.accepted = accepted


class ConfigurationWarning(UserWarning):
    """An option rayflink does not read (a typo of a known one, or a Flink option it ignores)."""


class JobExecutionError(RayflinkError):
    """The job failed; the message names the operator, its uid, the subtask and the record."""

    def __init__(self, message: str, *, operator: str | None = None, uid: str | None = None,
                 subtask: int | None = None, record: str | None = None,
                 cause: str | None = None) -> None:
        super().__init__(message)
        self.operator = operator
        self.uid = uid
        self.subtask = subtask
        self.record = record
        self.cause = cause


class JobCancelledError(RayflinkError):
    """The job was cancelled before it finished."""


class UnknownJobError(RayflinkError, LookupError):
    """No job with that id runs (or ran recently) on this cluster."""


class JobManagerUnavailableError(RayflinkError):
    """The job manager did not answer: its Ray actor died, or is restarting (clients retry for a while)."""


class QueryableStateError(RayflinkError):
    """A queryable state request failed: the job is not running, the state is unknown, or it timed out."""


class UnknownKvStateError(QueryableStateError, LookupError):
    """No operator of the job registered keyed state under that queryable state name."""


class ClusterUnavailableError(RayflinkError, ConnectionError):
    """No Ray cluster answers where rayflink looked (RAY_ADDRESS, the standing local cluster), or
    the standing local cluster could not start: names the address and how to start one."""


def truncate(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not hide the real error
        text = f"<unprintable {type(value).__name__}: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."

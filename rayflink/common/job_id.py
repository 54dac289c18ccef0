"""PyFlink's ``JobID``: the id of a submitted job, as ``JobClient.get_job_id()`` returns it."""

from __future__ import annotations

import re
import uuid

_HEX = re.compile(r"[0-9a-f]+")


class JobID(str):
    """A job's id: a lower-case hex string (16 digits for the jobs rayflink submits).

    It is a ``str``, so it names the job everywhere a string does (the REST API's
    ``/jobs/<id>``, ``rayflink cancel <id>``, ``QueryableStateClient``); ``str(job_id)`` is the
    hex form, as in PyFlink.

    >>> job_id = JobID.from_hex_string("00f2a1b3c4d5e6f7")
    >>> str(job_id), job_id == "00f2a1b3c4d5e6f7"
    ('00f2a1b3c4d5e6f7', True)
    >>> JobID.from_hex_string("not hex")
    Traceback (most recent call last):
    ValueError: a JobID is a hex string, got 'not hex'
    """

    __slots__ = ()

    @classmethod
    def generate(cls) -> JobID:
        """A new random id (what ``execute_async`` gives the job it submits)."""
        return cls(uuid.uuid4().hex[:16])

    @classmethod
    def from_hex_string(cls, hex_string: str) -> JobID:
        """The id written as ``hex_string`` (what ``str(job_id)`` and the REST API show);
        raises ``ValueError`` for anything but hex digits."""
        text = str(hex_string).strip().lower()
        if not _HEX.fullmatch(text):
            raise ValueError(f"a JobID is a hex string, got {hex_string!r}")
        return cls(text)

    def to_hex_string(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"JobID('{self}')"

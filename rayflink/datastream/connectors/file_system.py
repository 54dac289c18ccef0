"""PyFlink path for the file connector (the code lives in ``connectors.file``)."""

from rayflink.connectors.file import *  # noqa: F401,F403 - one line, PyFlink's import path

"""PyFlink path for the file connector (the code lives in ``connectors.file``)."""

from connectors.file import *  # noqa: F401,F403 - one line, PyFlink's import path

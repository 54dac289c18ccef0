"""PyFlink path for the file connector (the code lives in ``connectors.file``)."""
from rayflink.connectors.file import *  # noqa: F401,F403 - one line, PyFlink's import path
from rayflink.connectors.file import FileSourceBuilder  # noqa: F401 - PyFlink also exports the builder

"""PyFlink's ``pyflink.datastream.formats``: record formats (the code lives in
``rayflink.common.serialization`` and the file connector)."""

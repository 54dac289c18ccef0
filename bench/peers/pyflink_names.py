"""Generate tests/data/pyflink_public_names.json: PyFlink's DataStream-side public names.

Run once with the peers' venv (``bash bench/peers/setup.sh``), where apache-flink is installed:

    $VENV/bin/python bench/peers/pyflink_names.py > tests/data/pyflink_public_names.json

For each module: its public classes and functions (``__all__`` when the module has one, else
the classes and functions it defines), and for each class its public members (methods,
properties, nested classes, enum members) defined by PyFlink's classes (not ``object``'s).
``tests/datastream/test_pyflink_names.py`` imports every name at the same ``rayflink`` path.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import sys

MODULES = [
    "pyflink.common",
    "pyflink.common.completable_future", "pyflink.common.config_options",
    "pyflink.common.configuration", "pyflink.common.constants", "pyflink.common.execution_config",
    "pyflink.common.input_dependency_constraint", "pyflink.common.io", "pyflink.common.job_client",
    "pyflink.common.job_execution_result", "pyflink.common.job_id", "pyflink.common.job_status",
    "pyflink.common.restart_strategy", "pyflink.common.serialization", "pyflink.common.serializer",
    "pyflink.common.time", "pyflink.common.typeinfo", "pyflink.common.types",
    "pyflink.common.utils", "pyflink.common.watermark_strategy",
    "pyflink.datastream",
    "pyflink.datastream.functions", "pyflink.datastream.state", "pyflink.datastream.window",
    "pyflink.datastream.state_backend", "pyflink.datastream.checkpoint_config",
    "pyflink.datastream.checkpointing_mode", "pyflink.datastream.output_tag",
    "pyflink.datastream.data_stream", "pyflink.datastream.stream_execution_environment",
    "pyflink.datastream.connectors", "pyflink.datastream.connectors.kafka",
    "pyflink.datastream.connectors.file_system", "pyflink.datastream.connectors.base",
    "pyflink.datastream.connectors.number_seq", "pyflink.datastream.connectors.datagen",
    "pyflink.datastream.formats.json", "pyflink.datastream.formats.csv",
    "pyflink.datastream.formats.avro", "pyflink.datastream.formats.parquet",
    "pyflink.datastream.async_data_stream", "pyflink.datastream.async_retry_predicates",
    "pyflink.datastream.async_retry_strategies", "pyflink.datastream.checkpoint_storage",
    "pyflink.datastream.execution_mode", "pyflink.datastream.externalized_checkpoint_retention",
    "pyflink.datastream.slot_sharing_group", "pyflink.datastream.time_domain",
    "pyflink.datastream.timerservice",
]


def _members(cls: type) -> dict[str, str]:
    """Public members of ``cls`` that a PyFlink class defines, with their kind."""
    out: dict[str, str] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("pyflink"):
            continue
        raw = vars(owner)[name]
        if isinstance(raw, staticmethod):
            kind = "staticmethod"
        elif isinstance(raw, classmethod):
            kind = "classmethod"
        elif isinstance(raw, property):
            kind = "property"
        elif inspect.isclass(raw):
            kind = "class"
        elif inspect.isfunction(raw):
            kind = "method"
        elif isinstance(cls, type) and issubclass(cls, __import__("enum").Enum) and name in cls.__members__:
            kind = "enum_member"
        else:
            kind = "attribute"
        out[name] = kind
    return out


def _public_names(module: object) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return sorted(names)
    return sorted(n for n, v in vars(module).items()
                  if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
                  and getattr(v, "__module__", None) == module.__name__)


def main() -> None:
    result: dict = {"apache-flink": importlib.metadata.version("apache-flink"), "modules": {},
                    "missing_modules": []}
    for modname in MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            result["missing_modules"].append(modname)
            continue
        entries = {}
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                entries[name] = {"kind": "class", "members": _members(obj)}
            elif callable(obj):
                entries[name] = {"kind": "function"}
            else:
                entries[name] = {"kind": "value"}
        result["modules"][modname.replace("pyflink", "rayflink", 1)] = entries
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

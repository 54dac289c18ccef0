"""Every public name of PyFlink 2.3's DataStream-side modules, at the same ``rayflink`` path.

The names come from ``tests/data/pyflink_public_names.json``, generated once from apache-flink
by ``bench/peers/pyflink_names.py``. A name or member may be missing only when it is listed
below with its reason: JVM-only (it exists to reach Java) or pending (not built yet). A pending
entry that starts to exist fails the test too, so the lists only shrink.
"""

from __future__ import annotations

import importlib
import json
import pathlib

import pytest

DATA = json.loads((pathlib.Path(__file__).parent.parent / "data" / "pyflink_public_names.json").read_text())

# Names that exist only to reach the JVM (py4j handles, Java objects): never built.
JVM_ONLY_NAMES = {
    "JavaObjectWrapper": "wraps a py4j handle to a Java object",
    "InputFormat": "a Java InputFormat, for env.create_input",
    "AvroInputFormat": "a Java InputFormat, for env.create_input",
    "SourceFunction": "wraps a Java SourceFunction (env.add_source); rayflink sources implement Source",
    "CustomStateBackend": "wraps a Java state backend object",
    "CustomCheckpointStorage": "wraps a Java checkpoint storage object",
    "AssignerWithPeriodicWatermarksWrapper": "wraps a Java timestamp assigner",
}
JVM_ONLY_MEMBERS = {
    "get_java_function": "returns the py4j Java object of a source or sink",
    "get_java_object": "returns the py4j Java object",
    "get_java_type_info": "returns the Java TypeInformation",
    "get_java_output_tag": "returns the Java OutputTag",
    "get_java_slot_sharing_group": "returns the Java SlotSharingGroup",
    "get_java_memory_size": "returns the Java MemorySize",
    "create_input": "takes a Java InputFormat",
    "enable_force_kryo": "Java serialization (Kryo)", "disable_force_kryo": "Java serialization (Kryo)",
    "is_force_kryo_enabled": "Java serialization (Kryo)",
    "get_default_kryo_serializer_classes": "Java serialization (Kryo)",
    "get_registered_kryo_types": "Java serialization (Kryo)", "get_registered_pojo_types": "Java POJO types",
    "enable_force_avro": "Java serialization (Avro for POJOs)", "disable_force_avro": "Java serialization (Avro)",
    "is_force_avro_enabled": "Java serialization (Avro for POJOs)",
    "enable_generic_types": "Java generic types (Kryo fallback)", "disable_generic_types": "Java generic types",
    "has_generic_types_disabled": "Java generic types (Kryo fallback)",
}

PENDING_NAMES = {
    "CompletableFuture": "JobClient methods return their results, not futures (apps and tests rely on it: "
                         "changing what get_job_status/cancel/trigger_savepoint return is an API decision)",
    "FileEnumeratorProvider": "FileSource enumerates files without splitting them; block-splitting needs "
                              "splits with an end offset in the reader",
    "FileSplitAssignerProvider": "FileSource deals whole files to its subtasks itself (no host locality on Ray)",
}
PENDING_MEMBERS = {
    "EmbeddedRocksDBStateBackend.set_options": "takes a Java RocksDBOptionsFactory class name",
    "EmbeddedRocksDBStateBackend.get_options": "takes a Java RocksDBOptionsFactory class name",
    "EmbeddedRocksDBStateBackend.set_number_of_transfer_threads": "snapshot uploads use one thread pool "
                                                                  "(rayflink/checkpoint/)",
    "EmbeddedRocksDBStateBackend.get_number_of_transfer_threads": "snapshot uploads use one thread pool",
    "FileSourceBuilder.set_file_enumerator": "see FileEnumeratorProvider",
    "FileSourceBuilder.set_split_assigner": "see FileSplitAssignerProvider",
    "JobClient.get_accumulators": "accumulators not built (metrics are)",
    "JobExecutionResult.get_accumulator_result": "accumulators not built (metrics are)",
    "JobExecutionResult.get_all_accumulator_results": "accumulators not built (metrics are)",
    "StreamExecutionEnvironment.add_python_file": "Python dependencies: Ray's runtime_env, not built here",
    "StreamExecutionEnvironment.add_python_archive": "Python dependencies: Ray's runtime_env, not built here",
    "StreamExecutionEnvironment.set_python_executable": "Python dependencies: Ray's runtime_env, not built here",
    "StreamExecutionEnvironment.set_python_requirements": "Python dependencies: Ray's runtime_env, not built here",
    "StreamExecutionEnvironment.register_cached_file": "distributed cache not built",
    "StreamExecutionEnvironment.enable_changelog_state_backend": "the changelog state backend is not built",
    "StreamExecutionEnvironment.is_changelog_state_backend_enabled": "the changelog state backend is not built",
    "StreamExecutionEnvironment.set_default_local_parallelism": "the environment is local or not by RAY_ADDRESS",
    "StreamExecutionEnvironment.get_default_local_parallelism": "the environment is local or not by RAY_ADDRESS",
}


def _entries() -> list[tuple[str, str, dict]]:
    return [(module, name, entry) for module, names in DATA["modules"].items() for name, entry in names.items()]


def _resolve(module: str, name: str) -> object | None:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def coverage() -> dict:
    """Names and members present, of all and of those not JVM-only (for the report)."""
    names = members = names_ok = members_ok = names_jvm = members_jvm = 0
    for module, name, entry in _entries():
        obj = _resolve(module, name)
        jvm_name = name in JVM_ONLY_NAMES
        names += 1
        names_jvm += jvm_name
        names_ok += obj is not None
        for member in entry.get("members", {}):
            members += 1
            jvm = jvm_name or member in JVM_ONLY_MEMBERS
            members_jvm += jvm
            members_ok += obj is not None and hasattr(obj, member)
    return {"names": names, "names_present": names_ok, "names_non_jvm": names - names_jvm,
            "members": members, "members_present": members_ok, "members_non_jvm": members - members_jvm}


@pytest.mark.parametrize("module", sorted(m for m in DATA["modules"]))
def test_every_public_name_is_importable_at_pyflinks_path(module):
    missing = [name for name in DATA["modules"][module]
               if name not in JVM_ONLY_NAMES and name not in PENDING_NAMES and _resolve(module, name) is None]
    assert not missing, f"{module}: missing {missing}"


@pytest.mark.parametrize("module", sorted(m for m in DATA["modules"]))
def test_every_public_method_exists(module):
    missing = []
    for name, entry in DATA["modules"][module].items():
        obj = _resolve(module, name)
        if obj is None:
            continue
        for member in entry.get("members", {}):
            if member in JVM_ONLY_MEMBERS or f"{name}.{member}" in PENDING_MEMBERS:
                continue
            if not hasattr(obj, member):
                missing.append(f"{name}.{member}")
    assert not missing, f"{module}: missing {missing}"


def test_pending_lists_only_hold_what_is_missing():
    present_names = {name for module, name, _ in _entries() if _resolve(module, name) is not None}
    assert not (set(PENDING_NAMES) & present_names), "built now: remove them from PENDING_NAMES"
    present_members = set()
    for module, name, entry in _entries():
        obj = _resolve(module, name)
        present_members |= {f"{name}.{m}" for m in entry.get("members", {}) if obj is not None and hasattr(obj, m)}
    assert not (set(PENDING_MEMBERS) & present_members), "built now: remove them from PENDING_MEMBERS"


def test_the_data_file_is_pyflinks_and_complete():
    assert DATA["apache-flink"].startswith("2.3")
    assert len(DATA["modules"]) >= 39
    assert sum(len(names) for names in DATA["modules"].values()) >= 250


@pytest.mark.integration
def test_a_key_selector_is_opened_before_its_first_record_and_closed_after_its_last(tmp_path):
    import os

    from rayflink.datastream import KeySelector, StreamExecutionEnvironment
    from rayflink.testing import collect

    folder = str(tmp_path)

    class ByParity(KeySelector):
        def open(self, runtime_context):
            self.opened = runtime_context.get_index_of_this_subtask()
            open(os.path.join(folder, f"open-{os.getpid()}-{id(self)}"), "w").close()

        def get_key(self, value):
            return (value % 2, self.opened is not None)

        def close(self):
            open(os.path.join(folder, f"close-{os.getpid()}-{id(self)}"), "w").close()

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    keys = collect(env.from_collection(list(range(10))).key_by(ByParity()).map(lambda v: v))
    marks = os.listdir(folder)
    assert sorted(keys) == list(range(10))
    opened = {m[len("open-"):] for m in marks if m.startswith("open-")}
    closed = {m[len("close-"):] for m in marks if m.startswith("close-")}
    assert opened and opened == closed

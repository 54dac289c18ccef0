"""Every option rayflink reads, declared once at Flink's key with its type, default and description.

Read an option only through ``get``: the value set in code, a YAML file or on the CLI (``-D``),
parsed as Flink parses it, or the option's declared default — no call site carries a default of
its own.

>>> get({"execution.checkpointing.interval": "10 s"}, CHECKPOINTING_INTERVAL)
10000
>>> get({"execution.checkpointing.mode": "exactly_once"}, CHECKPOINTING_MODE)
'EXACTLY_ONCE'
>>> get({}, BUFFER_TIMEOUT)
100

Value syntax (Flink's): durations are a number and a unit (``200 ms``, ``10 s``, ``1 min``,
``2 h``, ``1 d``; a bare number is milliseconds) and read as milliseconds; memory sizes are a
number and a unit (``128mb``, ``1 gb``; a bare number is bytes) and read as bytes; booleans are
``true``/``false`` in any case; enumerations match case-insensitively and read as their
canonical spelling. ``validate`` checks a whole configuration when a job is submitted.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from rayflink.errors import ConfigurationError, ConfigurationWarning, truncate

T = TypeVar("T")

# ---- value types ------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value does not parse or is out of range: the message is a template with ``{value}``
    (``cannot read {value} as a duration``); the option adds its key and the accepted form."""


class OptionType(Generic[T]):
    """How an option's value is written (``accepted``) and parsed (``parse``)."""

    accepted = ""

    def parse(self, value: Any) -> T:
        raise NotImplementedError

    def render(self, value: T) -> str:
        """``value`` written as a configuration file would write it."""
        return str(value)

    def parse_for(self, key: str, value: Any) -> T:
        """``value`` read as this type for the option ``key``; raises ``ConfigurationError`` naming
        the key, the value and the accepted form."""
        try:
            return self.parse(value)
        except _Invalid as why:
            problem = str(why).format(value=truncate(value, 80))
            raise ConfigurationError(f"{key}: {problem}; expected {self.accepted}",
                                     key=key, value=value, accepted=self.accepted) from None


def _check_range(number: Any, minimum: Any, maximum: Any, unit: str = "") -> None:
    if minimum is not None and number < minimum:
        raise _Invalid(f"{{value}} is out of range (must be >= {minimum}{unit})")
    if maximum is not None and number > maximum:
        raise _Invalid(f"{{value}} is out of range (must be <= {maximum}{unit})")


@dataclass(frozen=True)
class _NumberType(OptionType[T]):
    """A number in ``minimum..maximum`` (either bound optional), ``noun`` read by ``_number``."""

    minimum: Any = None
    maximum: Any = None
    noun: ClassVar[str] = "a number"

    @property
    def accepted(self) -> str:  # type: ignore[override]
        low = "" if self.minimum is None else f" >= {self.minimum}"
        high = "" if self.maximum is None else f" <= {self.maximum}"
        return f"{self.noun}{low}{' and' if low and high else ''}{high}"

    def parse(self, value: Any) -> T:
        if isinstance(value, bool):
            raise _Invalid(f"cannot read {{value}} as {self.noun} (it is a boolean)")
        number = self._number(value)
        _check_range(number, self.minimum, self.maximum)
        return number

    def _number(self, value: Any) -> T:
        raise NotImplementedError


@dataclass(frozen=True)
class IntType(_NumberType[int]):
    """An integer in ``minimum..maximum`` (either bound optional); ``"4"`` reads as 4."""

    minimum: int | None = None
    maximum: int | None = None
    noun: ClassVar[str] = "an integer"

    def _number(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int):
            raise _Invalid("cannot read {value} as an integer")
        return value


@dataclass(frozen=True)
class FloatType(_NumberType[float]):
    """A number in ``minimum..maximum`` (either bound optional)."""

    minimum: float | None = None
    maximum: float | None = None

    def _number(self, value: Any) -> float:
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise _Invalid("cannot read {value} as a number") from None
        if math.isnan(number):
            raise _Invalid("cannot read {value} as a number")
        return number


@dataclass(frozen=True)
class BoolType(OptionType[bool]):
    """``true`` or ``false``, in any case (Flink accepts nothing else)."""

    accepted = "true or false"

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Invalid("cannot read {value} as a boolean")

    def render(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class StringType(OptionType[str]):
    """Any non-empty text (a path, a URI, a name); any text at all with ``allow_empty``."""

    allow_empty: bool = False

    @property
    def accepted(self) -> str:  # type: ignore[override]
        return "a string" if self.allow_empty else "a non-empty string"

    def parse(self, value: Any) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not (self.allow_empty or value.strip()):
            raise _Invalid("cannot read {value} as " + self.accepted)
        return value


# Flink's TimeUtils labels, lower case; a bare number is milliseconds.
_DURATION_UNITS_MS: Mapping[str, float] = MappingProxyType({
    **dict.fromkeys(("", "ms", "milli", "millis", "millisecond", "milliseconds"), 1.0),
    **dict.fromkeys(("ns", "nano", "nanos", "nanosecond", "nanoseconds"), 1e-6),
    **dict.fromkeys(("us", "µs", "micro", "micros", "microsecond", "microseconds"), 1e-3),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1000.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60_000.0),
    **dict.fromkeys(("h", "hour", "hours"), 3_600_000.0),
    **dict.fromkeys(("d", "day", "days"), 86_400_000.0),
})


def parse_duration_ms(value: Any) -> int:
    """Milliseconds of a Flink duration: ``200``, ``"200 ms"``, ``"10 s"``, ``"1 min"``, ``"2 h"``,
    a ``Time``/``Duration`` (anything with ``to_milliseconds()``) or a ``datetime.timedelta``.

    >>> parse_duration_ms("1 min"), parse_duration_ms(250), parse_duration_ms("2h")
    (60000, 250, 7200000)

    Raises ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"cannot read {truncate(value)} as a duration")
    to_ms = getattr(value, "to_milliseconds", None)
    if callable(to_ms):
        return int(to_ms())
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() * 1000)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return round(value)
    m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*", value) if isinstance(value, str) else None
    if not m or m.group(2).lower() not in _DURATION_UNITS_MS:
        raise ValueError(f"cannot read {truncate(value)} as a duration")
    return round(float(m.group(1)) * _DURATION_UNITS_MS[m.group(2).lower()])


@dataclass(frozen=True)
class DurationType(OptionType[int]):
    """A duration, read as milliseconds, at least ``minimum_ms`` (and -1 when ``allow_minus_one``)."""

    minimum_ms: int | None = None
    allow_minus_one: bool = False

    @property
    def accepted(self) -> str:  # type: ignore[override]
        low = "" if self.minimum_ms is None else f" of at least {self.minimum_ms} ms"
        off = " (or -1)" if self.allow_minus_one else ""
        return f"a duration{low}{off}, e.g. 1000 (ms), '500 ms', '10 s', '1 min', '2 h'"

    def parse(self, value: Any) -> int:
        try:
            ms = parse_duration_ms(value)
        except ValueError:
            raise _Invalid("cannot read {value} as a duration") from None
        if not (self.allow_minus_one and ms == -1):
            _check_range(ms, self.minimum_ms, None, " ms")
        return ms

    def render(self, value: int) -> str:
        for unit, ms in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
            if value and value % ms == 0:
                return f"{value // ms} {unit}"
        return f"{value} ms"


_MEMORY_UNITS: Mapping[str, int] = MappingProxyType({
    **dict.fromkeys(("", "b", "bytes"), 1),
    **dict.fromkeys(("k", "kb", "kib", "kibibytes"), 1 << 10),
    **dict.fromkeys(("m", "mb", "mib", "mebibytes"), 1 << 20),
    **dict.fromkeys(("g", "gb", "gib", "gibibytes"), 1 << 30),
    **dict.fromkeys(("t", "tb", "tib", "tebibytes"), 1 << 40),
})


@dataclass(frozen=True)
class MemorySizeType(OptionType[int]):
    """A memory size, read as bytes: ``268435456``, ``"256mb"``, ``"64 kb"``, ``"1 gb"``."""

    accepted = "a memory size, e.g. 268435456 (bytes), '256mb', '64 kb', '1 gb'"

    def parse(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", value) if isinstance(value, str) else None
        if not m or m.group(2).lower() not in _MEMORY_UNITS:
            raise _Invalid("cannot read {value} as a memory size")
        return int(m.group(1)) * _MEMORY_UNITS[m.group(2).lower()]


@dataclass(frozen=True)
class EnumType(OptionType[str]):
    """One of ``values``, matched case-insensitively (``exactly_once`` is ``EXACTLY_ONCE``), or an
    alias of one; reads as the canonical spelling in ``values``. Python enums read by value."""

    values: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> str:  # type: ignore[override]
        extra = [a for a in self.aliases if a.lower() not in {v.lower() for v in self.values}]
        return "one of " + ", ".join(self.values) + (f" (or {', '.join(extra)})" if extra else "") \
            + ", in any case"

    def parse(self, value: Any) -> str:
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, str):
            text = value.strip().lower()
            for v in self.values:
                if v.lower() == text:
                    return v
            for alias, v in self.aliases.items():
                if alias.lower() == text:
                    return v
        raise _Invalid("{value} is not accepted")


# ---- options -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per option
class ConfigOption(Generic[T]):
    """One configuration option: Flink's ``key``, how its value is written and read (``type``),
    the ``default`` when it is not set, and what it does. ``fallback_keys`` are older names
    still read (Flink's deprecated keys)."""

    key: str
    type: OptionType[T]
    default: T | None
    description: str
    fallback_keys: tuple[str, ...] = ()

    def parse(self, value: Any, key: str | None = None) -> T:
        """``value`` read as this option's type; raises ``ConfigurationError`` naming the key, the
        value and the accepted form."""
        return self.type.parse_for(key or self.key, value)


class ConfigOptions:
    """PyFlink's builder of ``ConfigOption``s, for a job's own options: a key, a value type, a
    default. ``Configuration.set`` checks a value against the option's type and
    ``Configuration.get`` reads it back parsed, or the default when it is not set.

    >>> threshold = ConfigOptions.key("fraud.threshold").double_type().default_value(0.9)
    >>> get({"fraud.threshold": "0.75"}, threshold), get({}, threshold)
    (0.75, 0.9)
    >>> threshold.parse("high")
    Traceback (most recent call last):
    rayflink.errors.ConfigurationError: fraud.threshold: cannot read 'high' as a number; expected a number
    """

    @staticmethod
    def key(key: str) -> "ConfigOptions.OptionBuilder":
        """Start building the option at ``key`` (choose its type next)."""
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(f"a configuration option's key must be a non-empty str, got {key!r}")
        return ConfigOptions.OptionBuilder(key)

    class OptionBuilder:
        """The option's key, waiting for its type (``int_type()``, ``string_type()``, ...)."""

        def __init__(self, key: str) -> None:
            self._key = key

        def _typed(self, type_: OptionType) -> "ConfigOptions.TypedConfigOptionBuilder":
            return ConfigOptions.TypedConfigOptionBuilder(self._key, type_)

        def boolean_type(self) -> "ConfigOptions.TypedConfigOptionBuilder[bool]":
            """``true`` or ``false`` (in any case), or a bool."""
            return self._typed(BoolType())

        def int_type(self) -> "ConfigOptions.TypedConfigOptionBuilder[int]":
            """A 32-bit integer, as Java's int."""
            return self._typed(IntType(-(2**31), 2**31 - 1))

        def long_type(self) -> "ConfigOptions.TypedConfigOptionBuilder[int]":
            """A 64-bit integer, as Java's long."""
            return self._typed(IntType(-(2**63), 2**63 - 1))

        def float_type(self) -> "ConfigOptions.TypedConfigOptionBuilder[float]":
            """A number."""
            return self._typed(FloatType())

        def double_type(self) -> "ConfigOptions.TypedConfigOptionBuilder[float]":
            """A number."""
            return self._typed(FloatType())

        def string_type(self) -> "ConfigOptions.TypedConfigOptionBuilder[str]":
            """Any string (the empty one too)."""
            return self._typed(StringType(allow_empty=True))

    class TypedConfigOptionBuilder(Generic[T]):
        """The option's key and type, waiting for its default."""

        def __init__(self, key: str, type_: OptionType[T]) -> None:
            self._key = key
            self._type = type_

        def default_value(self, value: T) -> ConfigOption[T]:
            """The option, read as ``value`` when it is not set (``value`` is checked against the type)."""
            return ConfigOption(self._key, self._type, self._type.parse_for(self._key, value), "")

        def no_default_value(self) -> ConfigOption[T]:
            """The option, read as None when it is not set."""
            return ConfigOption(self._key, self._type, None, "")


def _opt(key: str, type_: OptionType[T], default: T | None, description: str,
         fallback_keys: tuple[str, ...] = ()) -> ConfigOption[T]:
    return ConfigOption(key, type_, default, description, fallback_keys)


# core
PARALLELISM_DEFAULT = _opt("parallelism.default", IntType(1), 1,
                           "Subtasks per operator unless the operator sets its own.")
MAX_PARALLELISM = _opt("pipeline.max-parallelism", IntType(1, 32768), 128,
                       "Key groups of keyed state: the upper bound for rescaling.")
OPERATOR_CHAINING = _opt("pipeline.operator-chaining", BoolType(), True,
                         "Chain operators joined by forward edges of equal parallelism into one task.")
AUTO_WATERMARK_INTERVAL = _opt("pipeline.auto-watermark-interval", DurationType(0), 200,
                               "How often periodic watermark generators emit (0: never periodically).")
BUFFER_TIMEOUT = _opt("execution.buffer-timeout", DurationType(0, allow_minus_one=True), 100,
                      "Flush a channel's batch at the latest after this long (0: after every batch, "
                      "-1: only when full).")
RUNTIME_MODE = _opt("execution.runtime-mode", EnumType(("STREAMING", "BATCH", "AUTOMATIC")), "STREAMING",
                    "STREAMING, or BATCH for bounded jobs (keyed aggregates emit final results only).")
ATTACHED = _opt("execution.attached", BoolType(), True,
               "execute() waits for the job to end (false: it submits the job and returns its JobClient "
               "at once, as `rayflink run -d` sets).")
TASKMANAGER_TIMEOUT = _opt("resourcemanager.taskmanager-timeout", DurationType(0), 30_000,
                          "A task executor no running job uses is released after it has been idle this long "
                          "(one per CPU of the cluster stays up).")
EVENLY_SPREAD_OUT_SLOTS = _opt("cluster.evenly-spread-out-slots", BoolType(), True,
                               "Start task executors spread over the Ray cluster's nodes (Ray's SPREAD "
                               "scheduling) rather than where Ray finds room first.")
# high availability of the job manager
HIGH_AVAILABILITY_TYPE = _opt("high-availability.type", EnumType(("NONE", "RAY")), "RAY",
                              "RAY: a restarted job manager recovers the job from its latest completed "
                              "checkpoint (job graph in high-availability.storageDir or the job's checkpoint "
                              "directory, pointers in Ray's GCS); NONE: the job ends with the job manager.")
HIGH_AVAILABILITY_STORAGE_DIR = _opt("high-availability.storageDir", StringType(), None,
                                     "Where a job's graph is kept for recovery (file:// or s3://); default: "
                                     "the job's checkpoint directory.")
# network (rayflink's channels)
NETWORK_BATCH_SIZE = _opt("taskmanager.network.batch-size", IntType(1), 4096,
                          "Records per channel batch (rayflink's own).")
NETWORK_CREDITS_PER_CHANNEL = _opt("taskmanager.network.credits-per-channel", IntType(1), 4,
                                   "Unacknowledged batches a sender may have per channel (rayflink's own).")
BUFFER_DEBLOAT_ENABLED = _opt("taskmanager.network.memory.buffer-debloat.enabled", BoolType(), False,
                              "Shrink channel batches of backpressured channels to the target wait.")
BUFFER_DEBLOAT_TARGET = _opt("taskmanager.network.memory.buffer-debloat.target", DurationType(1), 1000,
                             "How long a record should wait in a backpressured channel (debloating's aim).")
# checkpointing
CHECKPOINTING_INTERVAL = _opt("execution.checkpointing.interval", DurationType(10, allow_minus_one=True), None,
                              "Checkpoint this often (unset or -1: checkpointing is off).")
CHECKPOINTING_MODE = _opt("execution.checkpointing.mode", EnumType(("EXACTLY_ONCE", "AT_LEAST_ONCE")),
                          "EXACTLY_ONCE", "EXACTLY_ONCE (aligned barriers) or AT_LEAST_ONCE.")
UNALIGNED_CHECKPOINTS = _opt("execution.checkpointing.unaligned.enabled", BoolType(), False,
                             "EXACTLY_ONCE checkpoints whose barriers overtake the records in flight, "
                             "which the checkpoint stores (savepoints stay aligned).")
UNALIGNED_CHECKPOINTS_FORCED = _opt("execution.checkpointing.unaligned.forced", BoolType(), False,
                                    "Unaligned checkpoints even where Flink would not allow them "
                                    "(rayflink allows them everywhere).")
ALIGNED_CHECKPOINT_TIMEOUT = _opt("execution.checkpointing.aligned-checkpoint-timeout", DurationType(0), 0,
                                  "With unaligned checkpoints: start aligned, and turn unaligned once "
                                  "this long has passed since the checkpoint started (0: always unaligned).",
                                  fallback_keys=("execution.checkpointing.alignment-timeout",))
CHECKPOINTING_TIMEOUT = _opt("execution.checkpointing.timeout", DurationType(1), 600_000,
                             "A checkpoint not completed in this time is aborted.")
CHECKPOINTING_MIN_PAUSE = _opt("execution.checkpointing.min-pause", DurationType(0), 0,
                               "Least time between the end of a checkpoint and the start of the next.")
MAX_CONCURRENT_CHECKPOINTS = _opt("execution.checkpointing.max-concurrent-checkpoints", IntType(1), 1,
                                  "Checkpoints that may be in progress at once.")
TOLERABLE_FAILED_CHECKPOINTS = _opt("execution.checkpointing.tolerable-failed-checkpoints", IntType(0), 0,
                                    "Consecutive failed checkpoints tolerated before the job fails.")
EXTERNALIZED_CHECKPOINT_RETENTION = _opt(
    "execution.checkpointing.externalized-checkpoint-retention",
    EnumType(("DELETE_ON_CANCELLATION", "RETAIN_ON_CANCELLATION", "NO_EXTERNALIZED_CHECKPOINTS")),
    "DELETE_ON_CANCELLATION", "Whether a cancelled job's checkpoints are kept.")
CHECKPOINTS_DIRECTORY = _opt("state.checkpoints.dir", StringType(), None,
                             "Where checkpoints go: file:///path or s3://bucket/prefix (a directory under "
                             "the system's temp dir when checkpointing is on and this is unset).",
                             ("execution.checkpointing.dir",))
CHECKPOINTS_NUM_RETAINED = _opt("state.checkpoints.num-retained", IntType(1), 1,
                                "Completed checkpoints kept.", ("execution.checkpointing.num-retained",))
SAVEPOINT_DIRECTORY = _opt("execution.checkpointing.savepoint-dir", StringType(), None,
                           "Default directory of savepoints taken without one (REST, CLI).",
                           fallback_keys=("state.savepoints.dir",))
SAVEPOINT_PATH = _opt("execution.savepoint.path", StringType(), None, "Savepoint to start the job from.")
SAVEPOINT_IGNORE_UNCLAIMED_STATE = _opt("execution.savepoint.ignore-unclaimed-state", BoolType(), False,
                                        "Skip savepoint state of operators the job no longer has.")
# state backends
STATE_BACKEND_TYPE = _opt("state.backend.type", EnumType(
    ("hashmap", "rocksdb"), {"filesystem": "hashmap", "jobmanager": "hashmap", "embeddedrocksdb": "rocksdb"}),
    "hashmap", "Keyed state backend: hashmap (Python dicts) or rocksdb.", ("state.backend",))
STATE_BACKEND_INCREMENTAL = _opt("state.backend.incremental", BoolType(), False,
                                 "Incremental checkpoints (rocksdb).")
STATE_BACKEND_LOCAL_DIR = _opt("state.backend.local-dir", StringType(), None,
                               "Local working directory of state backends (default: the system's temp dir).")
ROCKSDB_BLOCK_CACHE_SIZE = _opt("state.backend.rocksdb.block.cache-size", MemorySizeType(), None,
                                "RocksDB block cache per subtask.")
ROCKSDB_WRITE_BUFFER_SIZE = _opt("state.backend.rocksdb.writebuffer.size", MemorySizeType(), None,
                                 "RocksDB memtable size.")
ROCKSDB_FIXED_MEMORY_PER_SLOT = _opt("state.backend.rocksdb.memory.fixed-per-slot", MemorySizeType(), None,
                                     "Bounds RocksDB's block cache and memtables together, per slot.")
ROCKSDB_CACHE_MAX_ENTRIES = _opt("state.backend.rocksdb.cache.max-entries", IntType(0), 100_000,
                                 "Entries of the Python write-back cache per state (rayflink's own).")
ROCKSDB_COMPACTION_STYLE = _opt("state.backend.rocksdb.compaction.style", EnumType(("LEVEL", "UNIVERSAL")),
                                "LEVEL", "RocksDB compaction style.")
# restart strategies
RESTART_STRATEGY_TYPE = _opt("restart-strategy.type", EnumType(
    ("none", "fixed-delay", "failure-rate", "exponential-delay"),
    {"off": "none", "disable": "none", "fixeddelay": "fixed-delay", "failurerate": "failure-rate",
     "exponentialdelay": "exponential-delay"}), None,
    "How a failed job restarts (unset: fixed-delay when checkpointing is on, else none).", ("restart-strategy",))
FIXED_DELAY_ATTEMPTS = _opt("restart-strategy.fixed-delay.attempts", IntType(0), 2**31 - 1,
                            "Restarts before the job fails for good.")
FIXED_DELAY_DELAY = _opt("restart-strategy.fixed-delay.delay", DurationType(0), 1000,
                         "Wait before each restart.")
FAILURE_RATE_MAX_FAILURES = _opt("restart-strategy.failure-rate.max-failures-per-interval", IntType(1), 1,
                                 "Failures tolerated within the interval.")
FAILURE_RATE_INTERVAL = _opt("restart-strategy.failure-rate.failure-rate-interval", DurationType(1), 60_000,
                             "The interval failures are counted in.")
FAILURE_RATE_DELAY = _opt("restart-strategy.failure-rate.delay", DurationType(0), 1000,
                          "Wait before each restart.")
EXPONENTIAL_DELAY_INITIAL_BACKOFF = _opt("restart-strategy.exponential-delay.initial-backoff",
                                         DurationType(0), 1000, "The first restart's wait.")
EXPONENTIAL_DELAY_MAX_BACKOFF = _opt("restart-strategy.exponential-delay.max-backoff", DurationType(0), 60_000,
                                     "The longest wait between restarts.")
EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER = _opt("restart-strategy.exponential-delay.backoff-multiplier",
                                            FloatType(1.0), 2.0, "The wait grows by this factor per restart.")
EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD = _opt("restart-strategy.exponential-delay.reset-backoff-threshold",
                                                 DurationType(1), 3_600_000,
                                                 "After this long without failure the wait starts over.")
EXPONENTIAL_DELAY_JITTER_FACTOR = _opt("restart-strategy.exponential-delay.jitter-factor", FloatType(0.0, 1.0),
                                       0.0, "Random share added to or taken from each wait.")
EXPONENTIAL_DELAY_ATTEMPTS = _opt("restart-strategy.exponential-delay.attempts-before-reset-backoff",
                                  IntType(0), 2**31 - 1, "Restarts before the job fails for good.")
# SQL (rayflink.table): regular aggregations buffer input and update each key once per mini-batch
MINI_BATCH_ENABLED = _opt("table.exec.mini-batch.enabled", BoolType(), False,
                          "Buffer the input of regular aggregations (flushed by size, latency, barriers).")
MINI_BATCH_ALLOW_LATENCY = _opt("table.exec.mini-batch.allow-latency", DurationType(0), 0,
                                "How long a mini-batch may wait before its keys are updated (with enabled).")
MINI_BATCH_SIZE = _opt("table.exec.mini-batch.size", IntType(1), 5000,
                       "Rows a mini-batch holds before its keys are updated (with enabled).")
# checkpoint storage on S3 (every other ``s3.*`` key passes through to the storage as well)
S3_ENDPOINT = _opt("s3.endpoint", StringType(), None, "S3 endpoint (default: AWS_ENDPOINT_URL, then AWS).")
S3_PATH_STYLE_ACCESS = _opt("s3.path.style.access", BoolType(), None,
                            "Path-style bucket addressing (default: true when an endpoint is set).")
S3_REGION = _opt("s3.region", StringType(), None, "S3 region (default: AWS_REGION, then us-east-1).")
S3_ACCESS_KEY = _opt("s3.access-key", StringType(), None, "S3 access key id.")
S3_SECRET_KEY = _opt("s3.secret-key", StringType(), None, "S3 secret access key.")
S3_CONNECTION_ESTABLISH_TIMEOUT = _opt("s3.connection.establish.timeout", DurationType(1), 10_000,
                                     "Connecting to S3 fails after this long (per attempt).")
S3_CONNECTION_TIMEOUT = _opt("s3.connection.timeout", DurationType(1), 60_000,
                             "An S3 request that gets no answer for this long fails (per attempt).")
S3_ATTEMPTS_MAXIMUM = _opt("s3.attempts.maximum", IntType(0), 3, "Retries of a failed S3 request.")
# the REST endpoint and web UI (the cluster's, configured by the first job that starts it)
REST_BIND_ADDRESS = _opt("rest.bind-address", StringType(), "127.0.0.1",
                         "Address the REST API and web UI listen on; beyond loopback it needs "
                         "rest.authentication.token.")
REST_PORT = _opt("rest.port", IntType(0, 65535), 8081, "Port of the REST API and web UI.")
REST_BIND_PORT = _opt("rest.bind-port", StringType(), None,
                      "Port or range (8081-8090) to listen on; the first free one is taken "
                      "(default: rest.port, then the next 99 ports).")
REST_ADDRESS = _opt("rest.address", StringType(), None, "Host name shown in the REST API's URL.")
REST_AUTHENTICATION_TOKEN = _opt("rest.authentication.token", StringType(), None,
                                 "Token every REST request must carry (Authorization: Bearer); required "
                                 "when rest.bind-address is not a loopback address.")
# web
WEB_CHECKPOINTS_HISTORY = _opt("web.checkpoints.history", IntType(0), 10,
                               "Checkpoints the checkpoint history keeps (counts cover them all).")

OPTIONS: Mapping[str, ConfigOption] = MappingProxyType({
    o.key: o for o in globals().values() if isinstance(o, ConfigOption)})
_BY_KEY: Mapping[str, ConfigOption] = MappingProxyType(
    {**{k: o for o in OPTIONS.values() for k in o.fallback_keys}, **OPTIONS})

# Keys under these prefixes are passed through to a component (storage, connector) or are the user's
# own job parameters: never reported as unknown.
PASS_THROUGH_PREFIXES = ("s3.", "properties.", "pipeline.global-job-parameters.")
# Flink's namespaces: an unknown key in one of them is a Flink option rayflink does not read (or a
# typo), reported as a warning; keys outside them are the user's own and pass silently.
_FLINK_NAMESPACES = ("execution.", "pipeline.", "parallelism.", "state.", "taskmanager.", "jobmanager.",
                     "restart-strategy.", "rest.", "metrics.", "table.", "python.", "cluster.", "web.",
                     "high-availability.", "heartbeat.", "security.", "fs.", "classloader.", "env.")


# ---- reading and validating ----------------------------------------------------------------------


def get(config: Mapping[str, Any], option: ConfigOption[T]) -> T:
    """The value of ``option`` in ``config`` (a job's option dict), parsed, or its default.

    >>> get({"restart-strategy.fixed-delay.delay": "200 ms"}, FIXED_DELAY_DELAY)
    200
    """
    for key in (option.key, *option.fallback_keys):
        value = config.get(key)
        if value is not None:
            return option.parse(value, key)
    return option.default  # type: ignore[return-value]


def known_option(key: str) -> ConfigOption | None:
    """The option declared at ``key`` (or at an older name of it), or None."""
    return _BY_KEY.get(key)


def parse_value(key: str, value: Any) -> Any:
    """``value`` parsed as the option at ``key`` reads it; an unknown key's value unchanged (after a
    warning if ``key`` looks like a misspelt or unsupported Flink option)."""
    option = _BY_KEY.get(key)
    if option is None:
        warn_if_unknown(key)
        return value
    return option.parse(value, key)


def warn_if_unknown(key: str) -> None:
    """Warn (``ConfigurationWarning``) about a key rayflink does not read, naming the closest known
    key; keys passed through (``s3.*``, ``properties.*``) and the user's own keys stay silent
    unless they are a near miss of a known key (``s3.endpont``)."""
    if key in _BY_KEY:
        return
    # (a passed-through key is a near miss only when one letter or two are off: s3.connection.maximum,
    # a storage option of its own, is not a misspelt s3.connection.timeout)
    passed_through = key.startswith(PASS_THROUGH_PREFIXES)
    close = difflib.get_close_matches(key, list(_BY_KEY), n=1, cutoff=0.9 if passed_through else 0.8)
    if passed_through and not close:
        return
    if close:
        message = f"configuration option {key!r} is unknown and ignored; did you mean {close[0]!r}?"
    elif key.startswith(_FLINK_NAMESPACES):
        message = (f"configuration option {key!r} is not read by rayflink and is ignored "
                   f"(the options rayflink reads: rayflink.common.config_options.OPTIONS)")
    else:
        return
    warnings.warn(message, ConfigurationWarning, stacklevel=1)  # one place: Python shows each once


def default_checkpoint_dir() -> str:
    """Where checkpoints go when checkpointing is on and ``state.checkpoints.dir`` is not set."""
    return "file://" + os.path.join(tempfile.gettempdir(), "rayflink-checkpoints")


def savepoint_directory(config: Mapping[str, Any], target: str | None = None) -> str:
    """Where a savepoint goes: ``target`` when given, else the job's default
    (``execution.checkpointing.savepoint-dir``, which ``env.set_default_savepoint_directory``
    sets); raises ``ConfigurationError`` when neither is there.

    >>> savepoint_directory({"execution.checkpointing.savepoint-dir": "file:///sp"}), savepoint_directory({}, "/x")
    ('file:///sp', '/x')
    """
    directory = target or get(config, SAVEPOINT_DIRECTORY)
    if not directory:
        raise ConfigurationError(f"no savepoint directory: give one when triggering the savepoint or set "
                                 f"{SAVEPOINT_DIRECTORY.key} (env.set_default_savepoint_directory)",
                                 key=SAVEPOINT_DIRECTORY.key, value=None, accepted=SAVEPOINT_DIRECTORY.type.accepted)
    return directory


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """The job configuration checked as a whole at submission: every known option parsed (all
    bad values reported together in one ``ConfigurationError``), unknown keys warned about, and
    the checkpoint directory defaulted when checkpointing is on. Returns the parsed options
    (canonical values: durations in ms, sizes in bytes, enums in their canonical spelling).

    >>> validate({"execution.checkpointing.mode": "at_least_once"})["execution.checkpointing.mode"]
    'AT_LEAST_ONCE'
    """
    out: dict[str, Any] = {}
    errors: list[ConfigurationError] = []
    for key, value in config.items():
        try:
            out[key] = value if value is None else parse_value(key, value)
        except ConfigurationError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        first = errors[0]
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(str(e) for e in errors),
                                 key=first.key, value=first.value, accepted=first.accepted)
    if (get(out, CHECKPOINTING_INTERVAL) or -1) > 0 and get(out, CHECKPOINTS_DIRECTORY) is None:
        out[CHECKPOINTS_DIRECTORY.key] = default_checkpoint_dir()
    return out


def describe_options() -> str:
    """Every option as a Markdown table (key, default, accepted values, description), for the docs."""
    rows = ["| Option | Default | Accepts | What it does |", "|---|---|---|---|"]
    for option in OPTIONS.values():
        default = "(unset)" if option.default is None else f"`{option.type.render(option.default)}`"
        rows.append(f"| `{option.key}` | {default} | {option.type.accepted} | {option.description} |")
    return "\n".join(rows)

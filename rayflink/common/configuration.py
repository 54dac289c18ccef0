"""``Configuration``: Flink option names, set in code, from a YAML file or on the CLI."""

from __future__ import annotations

import re

from typing import Any

import yaml

# Flink's option names that rayflink reads, with their defaults.
DEFAULTS: dict[str, Any] = {
    "parallelism.default": 1,
    "pipeline.max-parallelism": 128,
    "execution.buffer-timeout": 100,  # ms
    "execution.runtime-mode": "STREAMING",
    "pipeline.operator-chaining": True,
    "pipeline.auto-watermark-interval": 200,  # ms
    "taskmanager.network.batch-size": 4096,  # records per channel batch
    "taskmanager.network.credits-per-channel": 4,  # unacknowledged batches per channel
    "state.backend.type": "hashmap",
}


class Configuration:
    """A string-keyed option map (``set_string``, ``get_integer``, ...).

    >>> conf = Configuration(); conf.set_integer("parallelism.default", 2)
    """

    def __init__(self, other: "Configuration | dict | None" = None) -> None:
        self._data: dict[str, Any] = dict(other._data if isinstance(other, Configuration) else other or {})

    @staticmethod
    def from_yaml(path: str) -> "Configuration":
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ValueError(f"configuration file {path}: expected a mapping of option: value")
        return Configuration(_flatten(data))

    def set_string(self, key: str, value: str) -> "Configuration":
        self._data[key] = value
        return self

    def set_integer(self, key: str, value: int) -> "Configuration":
        self._data[key] = int(value)
        return self

    def set_boolean(self, key: str, value: bool) -> "Configuration":
        self._data[key] = bool(value)
        return self

    def set_float(self, key: str, value: float) -> "Configuration":
        self._data[key] = float(value)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._data:
            return self._data[key]
        return DEFAULTS.get(key, default)

    def get_string(self, key: str, default_value: str | None = None) -> str | None:
        value = self.get(key, default_value)
        return None if value is None else str(value)

    def get_integer(self, key: str, default_value: int = 0) -> int:
        value = self.get(key, default_value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"configuration option {key}: expected an integer, got {value!r}") from None

    def get_boolean(self, key: str, default_value: bool = False) -> bool:
        value = self.get(key, default_value)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes", "on")
        return bool(value)

    def contains_key(self, key: str) -> bool:
        return key in self._data

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def add_all(self, other: "Configuration", prefix: str | None = None) -> "Configuration":
        """Copy ``other``'s entries into this configuration, their keys prefixed with ``prefix``."""
        self._data.update(other._data if prefix is None else {prefix + k: v for k, v in other._data.items()})
        return self

    # ---- PyFlink's remaining Configuration methods ------------------------------------

    @classmethod
    def from_dict(cls, map: dict) -> "Configuration":  # noqa: A002 - PyFlink's parameter name
        """A configuration holding the entries of ``map``."""
        return cls(dict(map))

    def get_float(self, key: str, default_value: float = 0.0) -> float:
        value = self.get(key, default_value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"configuration option {key}: expected a number, got {value!r}") from None

    def set_bytearray(self, key: str, value: bytearray) -> "Configuration":
        self._data[key] = bytearray(value)
        return self

    def get_bytearray(self, key: str, default_value: bytearray | None = None) -> bytearray | None:
        value = self._data.get(key, default_value)
        return None if value is None else bytearray(value)

    def key_set(self) -> set[str]:
        """The keys set in this configuration (defaults not included)."""
        return set(self._data)

    def add_all_to_dict(self, target_dict: dict) -> None:
        """Copy the entries into ``target_dict``, as strings (Java Properties' form)."""
        target_dict.update({k: v if isinstance(v, str) else _option_string(v) for k, v in self._data.items()})

    def remove_config(self, key: str) -> bool:
        """Remove ``key``; True when it was set."""
        return self._data.pop(key, _MISSING) is not _MISSING

    @staticmethod
    def parse_list_value(value: str) -> list:
        """A list option's value: a YAML list (``[a, b]``) or ``;``-separated items."""
        if not value:
            return []
        parsed = yaml.safe_load(value)
        return parsed if isinstance(parsed, list) else value.split(";")

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}={_option_string(v)}" for k, v in sorted(self._data.items())) + "}"


_MISSING = object()


def _option_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def checkpoint_interval_ms(options: dict) -> int:
    """``execution.checkpointing.interval`` of a job's options; -1 when checkpointing is off."""
    return int(options.get("execution.checkpointing.interval", -1) or -1)


def debloat_target_s(options: dict) -> float | None:
    """Seconds a record should wait in a backpressured channel, which buffer debloating aims
    at, or None when it is off: ``taskmanager.network.memory.buffer-debloat.enabled`` (default
    false) and ``...buffer-debloat.target`` (milliseconds, or ``"1 s"``, ``"500 ms"``; default 1 s).

    >>> debloat_target_s({"taskmanager.network.memory.buffer-debloat.enabled": "true",
    ...                   "taskmanager.network.memory.buffer-debloat.target": "500 ms"})
    0.5
    """
    if str(options.get("taskmanager.network.memory.buffer-debloat.enabled", "false")).strip().lower() != "true":
        return None
    raw = options.get("taskmanager.network.memory.buffer-debloat.target", 1000)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\s*", str(raw))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"taskmanager.network.memory.buffer-debloat.target: cannot read {raw!r} as a "
                         "positive duration; write e.g. 1000, '1 s' or '500 ms'")
    return float(m.group(1)) * {None: 0.001, "ms": 0.001, "s": 1.0, "min": 60.0}[m.group(2)]


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out

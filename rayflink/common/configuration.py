"""``Configuration``: Flink option names, set in code, from a YAML file or on the CLI."""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Mapping
from typing import Any

import yaml

from rayflink.common import config_options as options
from rayflink.errors import ConfigurationError

CONFIG_ENV = "RAYFLINK_CONFIG"  # JSON options ``rayflink run`` hands to the job's StreamExecutionEnvironment


def cli_options() -> dict[str, Any]:
    """Options that ``rayflink run`` passed to this process (``--conf``, ``-p``, ``-D key=value``)."""
    raw = os.environ.get(CONFIG_ENV)
    return json.loads(raw) if raw else {}


class Configuration:
    """A string-keyed option map at Flink's keys (``set_string``, ``get_integer``, ...).

    A value set for an option rayflink reads (``rayflink.common.config_options``) is parsed
    and checked at once: ``set_string("execution.checkpointing.interval", "10 s")`` stores
    10000 (ms), ``set_string("parallelism.default", "0")`` raises ``ConfigurationError`` naming
    the option and the accepted values. An unknown key close to a known one is warned about.

    >>> conf = Configuration().set_integer("parallelism.default", 2)
    >>> conf.set_string("execution.checkpointing.mode", "exactly_once").get(options.CHECKPOINTING_MODE)
    'EXACTLY_ONCE'
    """

    def __init__(self, other: "Configuration | Mapping[str, Any] | None" = None) -> None:
        self._data: dict[str, Any] = {}
        source = other._data if isinstance(other, Configuration) else other or {}
        for key, value in source.items():
            self._set(key, value)

    @staticmethod
    def from_yaml(path: str) -> "Configuration":
        """The options of a YAML file (nested mappings join their keys with dots), checked."""
        with open(path, encoding="utf-8") as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as exc:
                raise ConfigurationError(f"configuration file {path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"configuration file {path}: expected a mapping of option: value")
        try:
            return Configuration(_flatten(data))
        except ConfigurationError as exc:
            raise ConfigurationError(f"configuration file {path}: {exc}", key=exc.key, value=exc.value,
                                     accepted=exc.accepted) from None

    def _set(self, key: str, value: Any) -> "Configuration":
        if not isinstance(key, str):
            raise TypeError(f"a configuration key must be a str, got {key!r}")
        self._data[key] = value if value is None else options.parse_value(key, value)
        return self

    def set(self, option: options.ConfigOption, value: Any) -> "Configuration":
        """Set ``option`` to ``value``, checked: an option of ``config_options`` or one built
        with ``ConfigOptions`` (checked against its own type)."""
        if value is None or options.known_option(option.key) is not None:
            return self._set(option.key, value)
        self._data[option.key] = option.parse(value)
        return self

    def set_string(self, key: str, value: str) -> "Configuration":
        return self._set(key, value)

    def set_integer(self, key: str, value: int) -> "Configuration":
        if options.known_option(key) is None:
            value = options.IntType().parse_for(key, value)
        return self._set(key, value)

    def set_boolean(self, key: str, value: bool) -> "Configuration":
        if options.known_option(key) is None:
            value = options.BoolType().parse_for(key, value)
        return self._set(key, value)

    def set_float(self, key: str, value: float) -> "Configuration":
        if options.known_option(key) is None:
            value = options.FloatType().parse_for(key, value)
        return self._set(key, value)

    def get(self, key: "str | options.ConfigOption", default: Any = None) -> Any:
        """The value of an option (a ``ConfigOption`` or its key): the value set, else ``default``,
        else the option's declared default."""
        option = key if isinstance(key, options.ConfigOption) else options.known_option(key)
        if option is None:
            return self._data.get(key, default)  # type: ignore[arg-type]
        value = options.get(self._data, option)
        if default is not None and not any(k in self._data for k in (option.key, *option.fallback_keys)):
            return default
        return value

    def get_string(self, key: str, default_value: str | None = None) -> str | None:
        value = self.get(key, default_value)
        if isinstance(value, bool):
            return "true" if value else "false"  # Flink's spelling
        return None if value is None else str(value)

    def get_integer(self, key: str, default_value: int | None = None) -> int:
        value = self.get(key, default_value)
        return 0 if value is None else options.IntType().parse_for(key, value)

    def get_boolean(self, key: str, default_value: bool | None = None) -> bool:
        value = self.get(key, default_value)
        return False if value is None else options.BoolType().parse_for(key, value)

    def contains_key(self, key: str) -> bool:
        return key in self._data

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def add_all(self, other: "Configuration", prefix: str | None = None) -> "Configuration":
        """Copy ``other``'s entries into this configuration, their keys prefixed with ``prefix``."""
        for key, value in Configuration(other)._data.items():
            self._data[key if prefix is None else prefix + key] = value
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

    def key_set(self) -> builtins.set[str]:  # (``set`` is a method here)
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


def checkpoint_interval_ms(config: Mapping[str, Any]) -> int:
    """``execution.checkpointing.interval`` of a job's options in ms; -1 when checkpointing is off."""
    interval = options.get(config, options.CHECKPOINTING_INTERVAL)
    return -1 if interval is None or interval <= 0 else interval


def debloat_target_s(config: Mapping[str, Any]) -> float | None:
    """Seconds a record should wait in a backpressured channel, which buffer debloating aims
    at, or None when it is off: ``taskmanager.network.memory.buffer-debloat.enabled`` (default
    false) and ``...buffer-debloat.target`` (a duration; default 1 s).

    >>> debloat_target_s({"taskmanager.network.memory.buffer-debloat.enabled": "true",
    ...                   "taskmanager.network.memory.buffer-debloat.target": "500 ms"})
    0.5
    """
    if not options.get(config, options.BUFFER_DEBLOAT_ENABLED):
        return None
    return options.get(config, options.BUFFER_DEBLOAT_TARGET) / 1000


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out

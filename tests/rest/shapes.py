"""Compare a JSON answer with one recorded from Flink by fields and types, not values."""

from __future__ import annotations

import json
import os
from typing import Any

RECORDED = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "flink_rest")


def flink(name: str) -> Any:
    """Flink 2.3's answer recorded by bench/peers/record_flink_rest.py."""
    with open(os.path.join(RECORDED, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def mismatches(expected: Any, actual: Any, path: str = "$", free_keys: tuple[str, ...] = ()) -> list[str]:
    """Where ``actual`` lacks a field of ``expected`` or has another type there.

    A null in Flink's answer matches anything (Flink leaves optional fields null); maps keyed by
    ids (``free_keys`` names them) are compared entry shape to entry shape.
    """
    if expected is None:
        return []
    if _kind(expected) != _kind(actual):
        return [f"{path}: Flink has {_kind(expected)}, rayflink {_kind(actual)}"]
    out: list[str] = []
    if isinstance(expected, dict):
        if path.rsplit(".", 1)[-1] in free_keys:
            if expected and actual:
                out += mismatches(next(iter(expected.values())), next(iter(actual.values())), path + ".*", free_keys)
            return out
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out += mismatches(value, actual[key], f"{path}.{key}", free_keys)
    elif isinstance(expected, list) and expected and actual:
        out += mismatches(expected[0], actual[0], path + "[0]", free_keys)
    return out

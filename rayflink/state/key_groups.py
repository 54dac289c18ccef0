"""Key-group routing: the one place that maps a key to its key group and subtask.

Every sender subtask routes a record by its key, so a key must land in the same key group
in every process. Python's ``hash`` does not: str hashes are salted per process
(``PYTHONHASHSEED``), a frozenset iterates (and pickles) in an order that follows those
hashes, and an object using the default ``hash`` hashes its address. rayflink therefore
hashes a canonical byte encoding of the key (``key_bytes``) with murmur3, and Flink's
formula does the rest::

    key_group = (murmur3_32(key_bytes(key)) & 0x7FFFFFFF) % max_parallelism
    subtask   = key_group * parallelism // max_parallelism

The encoding follows Python's equality, so keys that are equal as dict keys get one key
group (and so one state entry):

- ``int`` of any size, ``bool`` (``True == 1``), ``float``, ``Decimal`` and ``Fraction``
  values encode by their numeric value: ``1``, ``1.0``, ``True``, ``Decimal("1.00")`` are
  one key, ``-0.0`` is ``0``; non-integral values encode as the float when the float is
  exactly that value, otherwise as the exact reduced fraction. NumPy scalars follow the
  same rule through ``numbers.Integral``/``numbers.Real``.
- ``str`` (as UTF-8, lone surrogates kept), ``bytes``/``bytearray``, ``None``.
- ``tuple`` and ``list`` (named tuples included) element by element; ``frozenset`` and
  ``set`` by their elements' encodings in sorted order, so iteration order never matters.
- ``Enum`` members by class and member name (``IntEnum``/``StrEnum`` members by their
  ``int``/``str`` value, which they equal); dataclasses (``eq=True``) by class and the
  values of their compared fields; ``datetime`` (aware ones by their UTC instant), ``date``,
  ``time``, ``timedelta``.

At the top level an ``int``, ``float``, ``str``, ``bytes`` or ``None`` key is encoded by its
payload alone (an int in 16 little-endian bytes when it fits), so the common keys keep the
key groups they always had. Anything else is refused with ``UnhashableKeyError``: the key
selector should return a str, a number or a tuple of them.

NaN is refused too (``UnhashableKeyError``): ``nan != nan``, so Python's dicts would keep a
separate state entry (and window, and timer) for every NaN record. Map NaN to a key that
equals itself in the key selector, e.g. ``lambda r: "NaN" if math.isnan(r.x) else r.x``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import math
import numbers
import operator
import struct
from collections.abc import Iterable
from typing import Any

import mmh3

from rayflink.errors import RayflinkError, truncate

DEFAULT_MAX_PARALLELISM = 128

_INT_MIN, _INT_MAX = -(1 << 127), (1 << 127) - 1  # what fits the 16-byte int payload
_DOUBLE = struct.Struct("<d")
_ELEMENT_HEAD = struct.Struct("<cI")  # an element's tag and payload length
_MICROS_PER_DAY = 86_400_000_000
# tags of the values whose top-level encoding is their bare payload
_NONE, _INT, _FLOAT, _STR, _BYTES = b"N", b"I", b"F", b"S", b"B"
_SCALARS = frozenset((_NONE, _INT, _FLOAT, _STR, _BYTES))
_INT_ELEMENT_HEAD = _ELEMENT_HEAD.pack(_INT, 16)


class UnhashableKeyError(RayflinkError, TypeError):
    """A key selector returned a key rayflink cannot route the same way in every process."""


def key_bytes(key: object) -> bytes:
    """The canonical encoding of ``key``: the same bytes in every process for equal keys.

    >>> key_bytes(frozenset({"b", "a"})) == key_bytes(frozenset({"a", "b"}))
    True
    >>> key_bytes(1) == key_bytes(1.0) == key_bytes(True)
    True

    Raises ``UnhashableKeyError`` for NaN and for values of other types (see the module
    docstring for what is encoded and how).
    """
    tag, payload = _encode(key)
    return payload if tag in _SCALARS else tag + payload


def key_hash(key: Any) -> int:
    """murmur3 (32 bits, signed) of ``key_bytes(key)``: stable across processes, unlike ``hash``.

    >>> key_hash("alice") == key_hash("alice")
    True
    """
    t = type(key)  # fast paths for the common keys, equal to the general rule
    if t is str:
        # mmh3 encodes a str as strict UTF-8 itself (and crashes on a lone surrogate)
        return mmh3.hash(key if key.isascii() else key.encode("utf-8", "surrogatepass"))
    if t is int and _INT_MIN <= key <= _INT_MAX:
        return mmh3.hash(key.to_bytes(16, "little", signed=True))
    if t is tuple:
        return mmh3.hash(_sequence(key, b"T"))
    return mmh3.hash(key_bytes(key))


def assign_key_group(key: object, max_parallelism: int) -> int:
    """Key group of ``key``: ``murmur3(key_bytes(key)) % max_parallelism`` (Flink's rule)."""
    return (key_hash(key) & 0x7FFFFFFF) % max_parallelism


def operator_index_for_key_group(key_group: int, parallelism: int, max_parallelism: int) -> int:
    """Subtask that owns ``key_group``: ``key_group * parallelism // max_parallelism``."""
    return key_group * parallelism // max_parallelism


def key_group_range(subtask: int, parallelism: int, max_parallelism: int) -> range:
    """The contiguous key groups owned by ``subtask`` (inverse of the formula above)."""
    start = (subtask * max_parallelism + parallelism - 1) // parallelism
    end = ((subtask + 1) * max_parallelism + parallelism - 1) // parallelism
    return range(start, end)


# ---- the encoding: (tag, payload) per value; containers concatenate their elements ----------


def _encode(key: Any) -> tuple[bytes, bytes]:
    t = type(key)
    if t is str:
        return _STR, key.encode("utf-8", "surrogatepass")
    if t is int or t is bool:
        return _INT, _int_payload(key)
    if t is float:
        return _float(key)
    if key is None:
        return _NONE, b""
    if t is tuple or t is list:
        return b"T", _sequence(key)
    if t is frozenset or t is set:
        return b"U", b"".join(sorted([_element(part) for part in key]))
    if t is bytes:
        return _BYTES, key
    return _encode_other(key)


def _element(value: object) -> bytes:
    """One value inside a container: tag, payload length, payload."""
    tag, payload = _encode(value)
    return _ELEMENT_HEAD.pack(tag, len(payload)) + payload


def _sequence(values: Iterable, head: bytes = b"") -> bytes:
    """``head`` and the elements of a tuple, list or dataclass in order (str and int parts inline:
    a hot path)."""
    out: list[bytes] = [head]
    append = out.append
    for value in values:
        t = type(value)
        if t is str:
            payload = value.encode("utf-8", "surrogatepass")
            append(_ELEMENT_HEAD.pack(_STR, len(payload)))
            append(payload)
        elif t is int and _INT_MIN <= value <= _INT_MAX:
            append(_INT_ELEMENT_HEAD)
            append(value.to_bytes(16, "little", signed=True))
        else:
            append(_element(value))
    return b"".join(out)


def _int_payload(value: int) -> bytes:
    if _INT_MIN <= value <= _INT_MAX:
        return value.to_bytes(16, "little", signed=True)
    return value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)  # > 16 bytes


def _float(value: float) -> tuple[bytes, bytes]:
    if value != value:
        raise UnhashableKeyError(
            "the key is or holds NaN, which is not equal to itself, so every NaN record would "
            "get its own state; map NaN to a key equal to itself in the key selector "
            "(e.g. lambda r: 'NaN' if math.isnan(r.x) else r.x)")
    if value.is_integer():  # 1.0 == 1 and -0.0 == 0: one key
        return _INT, _int_payload(int(value))
    return _FLOAT, _DOUBLE.pack(value)


def _rational(numerator: int, denominator: int) -> tuple[bytes, bytes]:
    """An exact rational number, encoded as the int or float it equals when there is one."""
    if denominator == 1:
        return _INT, _int_payload(numerator)
    try:
        as_float = numerator / denominator  # correctly rounded
    except OverflowError:
        as_float = None
    if as_float is not None and as_float.as_integer_ratio() == (numerator, denominator):
        return _FLOAT, _DOUBLE.pack(as_float)
    return b"Q", _element(numerator) + _element(denominator)


def _micros(days: int, seconds: int, microseconds: int) -> int:
    return days * _MICROS_PER_DAY + seconds * 1_000_000 + microseconds


def _offset_micros(offset: datetime.timedelta) -> int:
    return _micros(offset.days, offset.seconds, offset.microseconds)


def _class_name(value: object) -> bytes:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}".encode("utf-8", "surrogatepass")


def _encode_other(key: Any) -> tuple[bytes, bytes]:
    # subclasses of the built-in types first: IntEnum/StrEnum members equal their values
    if isinstance(key, int):
        return _INT, _int_payload(int(key))
    if isinstance(key, float):
        return _float(float(key))
    if isinstance(key, str):
        return _STR, key.encode("utf-8", "surrogatepass")
    if isinstance(key, (bytes, bytearray)):
        return _BYTES, bytes(key)
    if isinstance(key, (tuple, list)):
        return b"T", _sequence(key)
    if isinstance(key, (frozenset, set)):
        return b"U", b"".join(sorted([_element(part) for part in key]))
    if isinstance(key, enum.Enum):  # equal by identity: one member, one name
        return b"E", _element(_class_name(key)) + _element(key.name)
    if dataclasses.is_dataclass(key) and not isinstance(key, type):
        if not key.__dataclass_params__.eq:  # type: ignore[attr-defined]  # (not in the typeshed)
            raise UnhashableKeyError(
                f"the key is a {type(key).__qualname__} dataclass declared with eq=False, so two "
                "records' keys are never equal; declare it @dataclass(frozen=True) or return a tuple from "
                "the key selector")
        fields = _sequence(getattr(key, f.name) for f in dataclasses.fields(key) if f.compare)
        return b"D", _element(_class_name(key)) + fields
    if isinstance(key, datetime.datetime):  # before date: a datetime is a date
        micros = _micros(key.toordinal(), key.hour * 3600 + key.minute * 60 + key.second, key.microsecond)
        offset = key.utcoffset()
        if offset is None:
            return b"W", _element(micros)
        return b"Z", _element(micros - _offset_micros(offset))  # aware: equal when the instant is
    if isinstance(key, datetime.date):
        return b"A", _element(key.toordinal())
    if isinstance(key, datetime.time):
        micros = _micros(0, key.hour * 3600 + key.minute * 60 + key.second, key.microsecond)
        offset = key.utcoffset()
        if offset is None:
            return b"H", _element(micros)
        return b"Y", _element(micros - _offset_micros(offset))
    if isinstance(key, datetime.timedelta):
        return b"L", _element(_micros(key.days, key.seconds, key.microseconds))
    if isinstance(key, decimal.Decimal):
        if key.is_nan():
            return _float(float("nan"))
        if key.is_infinite():
            return _float(float(key))
        return _rational(*key.as_integer_ratio())
    if isinstance(key, numbers.Integral):  # NumPy integers
        return _INT, _int_payload(operator.index(key))
    if isinstance(key, fractions.Fraction):
        return _rational(key.numerator, key.denominator)
    if isinstance(key, numbers.Real):  # NumPy floats
        return _float(float(key))
    raise UnhashableKeyError(
        f"the key holds a value of type {type(key).__qualname__} ({truncate(key, 120)}), which rayflink cannot "
        "encode the same way in every process (its hash may differ between processes); return a "
        "str, int, float, bytes, None, or a tuple/frozenset/dataclass of those from the key selector")


def assign_key_groups(columns: list, max_parallelism: int) -> Any:
    """Key group of every row of the Arrow arrays ``columns`` (the columnar ``assign_key_group``),
    as a numpy array. A row's key is its value with one column, the tuple of its values with
    several, so a row lands in the key group ``assign_key_group`` gives its key; each distinct key
    of the call is hashed once."""
    import numpy as np

    if not columns:
        raise ValueError("assign_key_groups: give at least one key column")
    encoded = [_dictionary(c) for c in columns]
    if len(encoded) == 1:
        codes, uniques = encoded[0]
        groups = np.array([assign_key_group(v, max_parallelism) for v in uniques] or [0], dtype=np.int64)
        return groups[codes]
    if math.prod(len(uniques) + 1 for _, uniques in encoded) >= 2**62:  # codes would overflow: per row
        rows = zip(*[[uniques[c] for c in codes] for codes, uniques in encoded])
        return np.array([assign_key_group(k, max_parallelism) for k in rows], dtype=np.int64)
    combined = np.zeros(len(encoded[0][0]), dtype=np.int64)  # one code per distinct combination
    for codes, uniques in encoded:
        combined = combined * (len(uniques) + 1) + codes
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    keys = [tuple(uniques[codes[i]] for codes, uniques in encoded) for i in first]
    groups = np.array([assign_key_group(k, max_parallelism) for k in keys] or [0], dtype=np.int64)
    return groups[inverse]


def _dictionary(column: Any) -> tuple:
    """(code per row, distinct Python values) of an Arrow array; None is one of the values."""
    import numpy as np
    import pyarrow as pa

    encoded = column.dictionary_encode() if not isinstance(column, pa.DictionaryArray) else column
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    uniques = encoded.dictionary.to_pylist()
    codes = encoded.indices
    if codes.null_count:
        uniques.append(None)
        codes = codes.fill_null(len(uniques) - 1)
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64), uniques

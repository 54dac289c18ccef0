"""Which windows each row belongs to (TUMBLE, HOP, CUMULATE), on whole columns, and the slices
windows are made of.

A window is named by its end (exclusive, epoch ms): its start is ``window_start(spec, end)``. A
slice is ``slice_ms(spec)`` long (TUMBLE's size, CUMULATE's step, HOP's slide or, when the size is
no multiple of it, the greatest common divisor of both) and also named by its end; windows start
and end where slices end, and a window holds the slices in (start, end].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rayflink.sql.logical import WindowSpec


def assign_windows(spec: WindowSpec, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row index, window end) for every (row, window) pair: one window per row for TUMBLE,
    size / slide for HOP, and for CUMULATE each window of the row's period that ends after it."""
    rows = np.arange(len(ts))
    if spec.kind == "CUMULATE":  # windows [period start, period start + k * step) for k = 1 .. size / step
        start = ts - np.mod(ts - spec.offset_ms, spec.size_ms)
        first_end = ts - np.mod(ts - start, spec.slide_ms) + spec.slide_ms
        pairs = []
        for j in range(spec.size_ms // spec.slide_ms):
            end = first_end + j * spec.slide_ms
            keep = end <= start + spec.size_ms
            pairs.append((rows[keep], end[keep]))
    else:  # the windows starting in (ts - size, ts]
        last_start = ts - np.mod(ts - spec.offset_ms, spec.slide_ms)
        pairs = []
        for k in range(-(-spec.size_ms // spec.slide_ms)):
            start = last_start - k * spec.slide_ms
            keep = start > ts - spec.size_ms
            pairs.append((rows[keep], start[keep] + spec.size_ms))
    if len(pairs) == 1:
        return pairs[0]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def slice_ms(spec: WindowSpec) -> int:
    """The length of a slice: every window start and end is a slice end."""
    return spec.slide_ms if spec.kind == "CUMULATE" else math.gcd(spec.size_ms, spec.slide_ms)


def slice_ends(spec: WindowSpec, ts: Any) -> Any:
    """The end of the slice holding each time in ``ts`` (an int or an array)."""
    step = slice_ms(spec)
    return ts - np.mod(ts - spec.offset_ms, step) + step


def last_window_end(spec: WindowSpec, slice_end: Any) -> Any:
    """The end of the last window holding the slice(s) ending at ``slice_end`` (an int or an
    array): the end of CUMULATE's period, or of HOP's last window starting at or before the slice."""
    start = slice_end - slice_ms(spec)
    if spec.kind == "CUMULATE":
        return start - np.mod(start - spec.offset_ms, spec.size_ms) + spec.size_ms
    return start - np.mod(start - spec.offset_ms, spec.slide_ms) + spec.size_ms


def window_ends(spec: WindowSpec, first: int, last: int) -> range:
    """The ends of the windows ending in [``first``, ``last``]: every ``slide`` from the first
    aligned one (CUMULATE's windows end at each step; each period's are sorted out by the caller)."""
    step = spec.slide_ms
    anchor = spec.offset_ms + (0 if spec.kind == "CUMULATE" else spec.size_ms)  # an end of some window
    return range(first + (anchor - first) % step, last + 1, step)


def window_start(spec: WindowSpec, end: int) -> int:
    """The start of the window that ends at ``end``."""
    if spec.kind == "CUMULATE":
        last = end - 1
        return last - (last - spec.offset_ms) % spec.size_ms
    return end - spec.size_ms

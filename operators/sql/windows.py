"""Which windows each row belongs to (TUMBLE, HOP, CUMULATE), on whole columns, and the slices
windows are made of.

A window is named by its end (exclusive, epoch ms): its start is ``window_start(spec, end)``. A
slice is ``spec.slide_ms`` long (HOP's slide, CUMULATE's step, TUMBLE's size) and also named by
its end; windows end where slices end, and a window holds the slices in (start, end].
"""

from __future__ import annotations

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
    else:
        last_start = ts - np.mod(ts - spec.offset_ms, spec.slide_ms)
        pairs = [(rows, last_start - k * spec.slide_ms + spec.size_ms) for k in range(spec.size_ms // spec.slide_ms)]
    if len(pairs) == 1:
        return pairs[0]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def slice_ends(spec: WindowSpec, ts: np.ndarray) -> np.ndarray:
    """The end of the slice holding each time in ``ts``."""
    return ts - np.mod(ts - spec.offset_ms, spec.slide_ms) + spec.slide_ms


def last_window_end(spec: WindowSpec, slice_end: Any) -> Any:
    """The end of the last window holding the slice(s) ending at ``slice_end`` (an int or an
    array): HOP's window that starts with it, or the end of CUMULATE's period."""
    if spec.kind == "CUMULATE":
        start = slice_end - spec.slide_ms
        return start - np.mod(start - spec.offset_ms, spec.size_ms) + spec.size_ms
    return slice_end + spec.size_ms - spec.slide_ms


def window_start(spec: WindowSpec, end: int) -> int:
    """The start of the window that ends at ``end``."""
    if spec.kind == "CUMULATE":
        last = end - 1
        return last - (last - spec.offset_ms) % spec.size_ms
    return end - spec.size_ms

"""Shared helpers for the peer benchmarks (client side only).

Peak RSS is the peak over time of the *sum* of RSS over the whole process tree
rooted at a given pid (for PyFlink: the client python, the JVM mini-cluster it
launches and the python UDF workers the JVM spawns; for Bytewax: the
`python -m bytewax.run` child). It is sampled every `interval` seconds with
psutil when importable, else by reading /proc directly.
"""
from __future__ import annotations

import json
import os
import sys
import threading

try:  # psutil is installed into the peers venv by setup.sh
    import psutil  # type: ignore
except Exception:  # pragma: no cover - fallback path
    psutil = None

DEFAULT_VENV = os.environ.get(
    "RAYFLINK_PEERS_VENV", os.path.join(os.path.expanduser("~"), ".cache", "rayflink-peers")
)


def reexec_in_venv(module: str) -> None:
    """If `module` is not importable here, re-run this script with the peers venv's python."""
    try:
        __import__(module)
        return
    except ImportError:
        pass
    py = os.path.join(DEFAULT_VENV, "bin", "python")
    # compare prefixes, not executables: a venv's python is a symlink to the interpreter it was made from
    if os.path.realpath(sys.prefix) == os.path.realpath(DEFAULT_VENV) or not os.path.exists(py):
        sys.exit(f"cannot import {module}; run bench/peers/setup.sh first (venv: {DEFAULT_VENV})")
    os.execv(py, [py] + sys.argv)


def proc_tree(root: int) -> list[tuple[int, str, int]]:
    """``(pid, stat line, RSS bytes)`` of ``root`` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    procs: dict[int, tuple[str, int]] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            ppid = int(fields[1])
            pid = int(d)
            procs[pid] = (s, int(fields[21]) * page)
            children.setdefault(ppid, []).append(pid)
        except (OSError, ValueError, IndexError):
            continue
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        if p in procs:
            out.append((p, *procs[p]))
        stack.extend(children.get(p, ()))
    return out


def _proc_tree_rss_procfs(root: int) -> int:
    return sum(rss for _, _, rss in proc_tree(root))


def _proc_tree_rss_psutil(root: int) -> int:
    try:
        top = psutil.Process(root)
        procs = [top] + top.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class TreeRssSampler:
    """Background thread sampling the RSS of a process tree; `.peak_mb` after `.stop()`."""

    def __init__(self, root_pid: int | None = None, interval: float = 0.1):
        self.root = root_pid if root_pid is not None else os.getpid()
        self.interval = interval
        self.method = "psutil" if psutil is not None else "procfs"
        self._fn = _proc_tree_rss_psutil if psutil is not None else _proc_tree_rss_procfs
        self.peak = 0
        self.max_procs = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def set_root(self, pid: int) -> None:
        self.root = pid

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        v = self._fn(self.root)
        if v > self.peak:
            self.peak = v

    def start(self) -> "TreeRssSampler":
        self._t.start()
        return self

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._t.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / (1024 * 1024), 1)


def emit_result(system: str, workload: str, events: int, seconds: float, peak_rss_mb: float, **extra) -> dict:
    rec = {
        "system": system,
        "workload": workload,
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
        "peak_rss_mb": peak_rss_mb,
    }
    rec.update(extra)
    sys.stdout.flush()
    print(json.dumps(rec), flush=True)
    return rec

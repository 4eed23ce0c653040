"""Timing shared by the benchmark harnesses of the peers (bench_pychonet.py,
gurux_bench.py): timeit with its own auto-ranging, then REPEATS timed runs, so that every
peer is measured the same way (docs/benchmarks.md)."""

from __future__ import annotations

import statistics
import timeit
from typing import Any, Dict

# Timed runs per operation; the fastest is the verdict's figure, the median and mean are
# printed beside it.
REPEATS = 10


def measure(stmt: str, env: Dict[str, Any], seconds: float) -> Dict[str, float]:
    """Mean ns per call over ~`seconds` (REPEATS timed runs), after timeit's auto-ranging.

    Also the median and the fastest of the REPEATS runs, less sensitive to other load on
    the machine than the mean.
    """
    timer = timeit.Timer(stmt, globals=env)
    number, elapsed = timer.autorange()
    per_repeat = max(1, int(number * seconds / REPEATS / elapsed))
    times = timer.repeat(repeat=REPEATS, number=per_repeat)
    per_call = sorted(t / per_repeat * 1e9 for t in times)
    return {
        "mean_ns": sum(times) / (REPEATS * per_repeat) * 1e9,
        "median_ns": statistics.median(per_call),
        "min_ns": per_call[0],
        "iterations": REPEATS * per_repeat,
    }

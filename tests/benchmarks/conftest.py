"""Benchmark scripts import their helpers as top-level modules (``_common``, ``_flops``): benchmarks/ on the path."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

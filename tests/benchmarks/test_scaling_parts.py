"""benchmarks/scaling.py: the line fit, and one memory point measured in its own process."""

import pytest
import scaling


def test_fit_line_recovers_a_line():
    slope, intercept, r2 = scaling.fit_line([1, 2, 4, 8], [3 + 2 * x for x in (1, 2, 4, 8)])
    assert slope == pytest.approx(2) and intercept == pytest.approx(3) and r2 == pytest.approx(1)


def test_a_point_runs_in_a_child_process_and_reports_its_peak_memory():
    peak = scaling.peak_memory_mib({"kind": "sampling", "sampler": "heun", "steps": 2, "batch": 8}, threads=1)
    assert 0 <= peak < 200

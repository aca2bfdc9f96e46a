"""``loadtest/tools/uploads.py`` in small, so that it cannot rot: tiny photos, a few followers,
a few uploads. Its figures are for BENCHMARKS.md ("Pictures: uploads under load"), not asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.support.server import ROOT


def test_the_uploads_benchmark_runs_both_phases_and_checks_every_delivery(tmp_path: Path) -> None:
    out, cache = tmp_path / "uploads.json", tmp_path / "photos"
    command = [sys.executable, "-m", "loadtest.tools.uploads", "--followers", "3", "--uploads", "4"]
    command += ["--rate", "5", "--quiet", "0.5", "--megapixels", "0.02", "--photos", "2"]
    command += ["--cache", str(cache), "--out", str(out)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    result = orjson.loads(out.read_bytes())
    uploads = result["uploading"]["uploads"]
    assert uploads["outcomes"] == {"stored": 4} and uploads["ms"]["max"] is not None
    # The server counted the same four (the two warm-up uploads came before the phase).
    assert result["uploading"]["server"]["uploads"] == {"stored": 4}
    for phase in ("quiet", "uploading"):
        fanout = result[phase]["fanout"]
        assert fanout["posts"] > 0 and fanout["lost"] == 0
        assert fanout["deliveries"] == 3 * fanout["posts"]
        assert result[phase]["server"]["loop_lag_ms"]["count"] > 0
    assert len(list(cache.glob("photo-*.jpg"))) == 2  # kept for the next run
    assert "uploads   4 at once: stored 4" in run.stdout


def test_bad_arguments_are_refused_clearly() -> None:
    command = [sys.executable, "-m", "loadtest.tools.uploads", "--uploads", "0"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert (
        run.returncode == 2 and "--uploads must be at least 1" in run.stderr and "Traceback" not in run.stderr
    )

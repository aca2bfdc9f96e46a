"""``loadtest/tools/fanout_cost.py`` in small, so that it cannot rot: a few followers, a few posts,
on Tsudoi and on the ceiling server. Its figures are for BENCHMARKS.md, not asserted; that every
frame was delivered and counted is."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.server import ROOT


@pytest.mark.parametrize("ceiling", [False, True], ids=["tsudoi", "ceiling"])
def test_the_fanout_cost_counts_every_frame_of_every_round(ceiling: bool) -> None:
    command = [sys.executable, "-m", "loadtest.tools.fanout_cost", "6", "--posts", "3", "--rounds", "2"]
    command += ["--ceiling"] if ceiling else []
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    rounds = re.findall(
        r"^round (\d): 3 posts to 6 followers, (\d+) frames delivered: server CPU [\d.]+ µs", run.stdout, re.M
    )
    # Six followers and the author each receive every post: 21 frames a round.
    assert rounds == [("1", "21"), ("2", "21")], run.stdout


def test_the_heartbeat_cost_counts_every_answer() -> None:
    command = [sys.executable, "-m", "loadtest.tools.fanout_cost", "5", "--heartbeats", "4", "--rounds", "1"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(
        r"^round 1: 20 heartbeats answered: server CPU [\d.]+ µs per heartbeat$", run.stdout, re.M
    ), run.stdout


def test_bad_arguments_are_refused_clearly() -> None:
    command = [sys.executable, "-m", "loadtest.tools.fanout_cost", "--callgrind", "--strace"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and "not allowed with argument" in run.stderr and "Traceback" not in run.stderr

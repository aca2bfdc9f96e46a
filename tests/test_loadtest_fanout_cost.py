"""``loadtest/tools/fanout_cost.py`` in small, so that it cannot rot: a few followers, a few posts,
on Tsudoi and on the ceiling server. Its figures are for BENCHMARKS.md, not asserted; that every
frame was delivered and counted is."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.server import ROOT


def fanout_cost(*args: str) -> list[tuple[str, str, int]]:
    """Run the tool for 3 posts to 6 followers, 2 rounds: per round, its number, the frames
    delivered and their average size."""
    command = [
        sys.executable,
        "-m",
        "loadtest.tools.fanout_cost",
        "6",
        "--posts",
        "3",
        "--rounds",
        "2",
        *args,
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    rounds = re.findall(
        r"^round (\d): 3 posts to 6 followers, (\d+) frames of (\d+) bytes delivered: server CPU [\d.]+ µs",
        run.stdout,
        re.M,
    )
    assert rounds, run.stdout
    return [(n, frames, int(size)) for n, frames, size in rounds]


def test_the_fanout_cost_counts_every_frame_of_every_round() -> None:
    compact, full = fanout_cost(), fanout_cost("--full-events")
    # Six followers and the author each receive every post: 21 frames a round.
    assert [(n, frames) for n, frames, _ in compact] == [("1", "21"), ("2", "21")]
    assert [(n, frames) for n, frames, _ in full] == [("1", "21"), ("2", "21")]
    # Compact events leave out the author's false badges, the post's nulls and empty lists.
    assert all(c + 150 < f for (_, _, c), (_, _, f) in zip(compact, full, strict=True)), (compact, full)


def test_the_fanout_cost_of_the_ceiling_counts_every_frame() -> None:
    assert [(n, frames) for n, frames, _ in fanout_cost("--ceiling")] == [("1", "21"), ("2", "21")]


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

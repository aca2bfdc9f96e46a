"""The load-test harness, run small (seconds, a few dozen connections) so that it cannot rot."""

from __future__ import annotations

import asyncio
import copy
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import html
from loadtest.client import LoadClient, connect_client
from loadtest.local import LocalServer
from loadtest.report import deliveries, percentiles
from loadtest.scrape import quantile
from loadtest.tools import opcodes
from tests.support.client import Client, Users
from tests.support.server import ROOT, ServerProcess

#: A real result, of ``tsudoi-loadtest quake --users 30 --degree 3 --rate 2 --duration 1
#: --quake 4 --announce-every 1``: a storm, statuses, announcements, negative latency from ok.
QUAKE_RESULT = Path(__file__).parent / "data" / "loadtest-quake.json"


def _harness(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "loadtest", *args, "--out", str(tmp_path / "result.json")]


def _private_tmp(tmp_path: Path) -> dict[str, str]:
    """An environment whose temporary directory is the test's own, so that what a run leaves
    there is this run's (other runs may be going on beside it)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


def left_behind(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("tsudoi-load-*"))


def run_scenario(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = subprocess.run(
        _harness(tmp_path, *args),
        cwd=ROOT,
        env={**_private_tmp(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if "--keep" not in args:  # the seeded database and the tokens went with the run
        assert left_behind(tmp_path) == []
    return result, orjson.loads((tmp_path / "result.json").read_bytes())


def test_fanout_runs_end_to_end_and_checks_every_delivery(tmp_path: Path) -> None:
    result, report = run_scenario(tmp_path, "fanout", "--followers", "30", "--rate", "5", "--duration", "2")
    assert report["connections"]["established"] == 30
    assert report["posts"] == 10
    assert report["expected"] == report["delivered"] == 300
    assert report["lost"] == report["duplicated"] == report["unexpected"] == 0
    assert report["latency_ms"]["p99"] is not None
    assert report["server"]["cpu_us_per_delivered_frame"] > 0
    assert report["machine"]["cores"] >= 1
    assert "delivered 300/300" in result.stdout
    page = (tmp_path / "result.html").read_text()
    assert "lost, duplicated" in page and "<img" in page
    assert "server /metrics, measured phase" in result.stdout and "server /metrics, measured phase" in page
    for plot in ("latency", "throughput", "connections"):
        assert (tmp_path / f"result-{plot}.png").read_bytes().startswith(b"\x89PNG")

    # The harness read the server's /metrics, and its figures agree with what the clients saw.
    server = report["server_metrics"]
    assert server["source"].endswith("/metrics")
    assert server["connect"] == {"handshakes_completed": 30, "handshakes_failed": {}}
    measured = server["measured"]
    assert measured["handshakes_completed"] == 1  # the author, who connects after the followers
    assert measured["events_published"] == report["posts"] == 10
    # Every frame a client recorded went through the server's fan-out, and each post went to the
    # author's own connection too (which does not record): nothing more, nothing less.
    assert measured["events_delivered"] == report["delivered"] + report["posts"]
    assert measured["send_queue_dropped"] == measured["slow_consumers_closed"] == 0
    assert measured["errors"] == report["errors"] == {}
    latency = measured["fanout_latency_ms"]
    assert latency["count"] == report["posts"]  # one sampled recipient per fan-out
    assert 0 < latency["mean"] < 5_000 and 0 < latency["p50"] <= latency["p99"] <= 5_000
    assert server["at_end"]["connections"]["live"] == 31 and server["at_end"]["send_queue_depth"] == 0


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "min": 1.0, "max": 100.0}
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "min": None, "max": None}


def test_histogram_quantiles_interpolate_within_a_bucket() -> None:
    """As Prometheus' histogram_quantile: linear within the bucket, the last finite bound beyond."""
    buckets = [(0.001, 50.0), (0.01, 90.0), (0.1, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == 0.001
    assert quantile(0.7, buckets) == 0.001 + (0.01 - 0.001) * (70 - 50) / (90 - 50)
    assert quantile(0.99, buckets) == 0.01 + (0.1 - 0.01) * (99 - 90) / (100 - 90)
    assert quantile(0.99, [(0.001, 1.0), (float("inf"), 10.0)]) == 0.001
    assert quantile(0.5, [(0.001, 0.0), (float("inf"), 0.0)]) is None


def test_the_ceiling_server_runs_on_the_same_harness(tmp_path: Path) -> None:
    result, report = run_scenario(
        tmp_path,
        "fanout",
        "--ceiling",
        "--followers",
        "20",
        "--rate",
        "5",
        "--duration",
        "1",
        "--settle",
        "1",
    )
    assert report["scenario"] == "fanout-ceiling"
    assert report["lost"] == report["duplicated"] == 0 and report["delivered"] == 5 * 20
    # Measured from a second after the last follower connected.
    assert report["options"]["settle"] == 1.0 and "measuring in 1s" in result.stdout


@pytest.mark.parametrize("kind", ["ceiling", "floor"])
async def test_the_bare_servers_take_a_connection_through_hello_auth_and_ready(kind: str) -> None:
    """What ``resume_cost --ceiling`` and ``--floor`` measure a resume against: a connection
    through the protocol's handshake and nothing else, on websockets' own server and on Tsudoi's
    uvicorn stack."""
    server = LocalServer(ceiling=kind == "ceiling", floor=kind == "floor").start()
    try:
        ws = await connect_client(server.ws_url)
        assert orjson.loads(await ws.recv())["op"] == "hello"
        await ws.send(orjson.dumps({"op": "auth", "token": "anything"}).decode())
        assert orjson.loads(await ws.recv())["op"] == "ready"
        await ws.close()
    finally:
        server.close()


def test_the_opcode_counter_runs_a_module_and_counts_its_functions(tmp_path: Path) -> None:
    out = tmp_path / "counts.json"
    command = [sys.executable, "-m", "loadtest.tools.opcodes", str(out), "--", "python", "-m", "calendar"]
    result = subprocess.run([*command, "2026", "12"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "December 2026" in result.stdout  # the module ran, with its own arguments
    counts = orjson.loads(out.read_bytes())
    assert any(name.startswith("calendar.py:") and count > 0 for name, count in counts.items())
    # Counted per function: what one run executed beyond another, largest first.
    assert opcodes.difference({"f": 10, "g": 5, "h": 1}, {"f": 4, "g": 5, "h": 2}) == [("f", 6)]
    bad = subprocess.run([*command[:4], "python"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "usage:" in bad.stderr and "Traceback" not in bad.stderr


def test_reconnect_storm_resumes_everyone_with_nothing_lost(tmp_path: Path) -> None:
    _, report = run_scenario(
        tmp_path, "reconnect-storm", "--followers", "40", "--rate", "5", "--duration", "2"
    )
    assert report["scenario"] == "reconnect-storm"
    assert report["storm"]["resumed"] == 40 and report["storm"]["failed"] == {}
    assert report["lost"] == report["duplicated"] == 0 and report["delivered"] == report["expected"] == 400
    assert report["storm"]["server_cpu_seconds"] > 0
    # What the generator spent on it, and its busiest process's share of the storm's time.
    assert report["storm"]["generator_cpu_seconds"] > 0
    assert 0 < report["storm"]["generator_busiest"] <= 1.1  # one thread: no more than its time
    # The server counted every resume as a handshake (and the author's first one).
    assert report["server_metrics"]["measured"]["handshakes_completed"] == 40 + 1


def test_chat_delivers_every_post_to_its_authors_followers(tmp_path: Path) -> None:
    _, report = run_scenario(
        tmp_path, "chat", "--users", "40", "--degree", "5", "--rate", "10", "--duration", "2"
    )
    assert report["scenario"] == "chat" and report["posts"] == 20
    # Each post reaches its author's online followers and the author's own connection.
    assert report["expected"] == report["delivered"] and report["delivered"] >= 20
    assert report["lost"] == report["duplicated"] == 0
    figures = report["latency_from_send_ms"]
    assert isinstance(figures, dict) and figures["min"] is not None and figures["min"] >= 0


def test_surge_steps_the_rate_up_eightfold(tmp_path: Path) -> None:
    _, report = run_scenario(
        tmp_path, "surge", "--users", "30", "--degree", "3", "--rate", "2", "--duration", "1", "--surge", "1"
    )
    assert report["scenario"] == "surge" and report["posts"] == 2 + 16
    assert report["lost"] == report["duplicated"] == 0
    assert [second["posts"] for second in report["series"]][:2] != [0, 0]  # per-second series for plots


def test_fanout_on_two_workers_and_a_private_redis(tmp_path: Path) -> None:
    _, report = run_scenario(
        tmp_path,
        "fanout",
        "--followers",
        "30",
        "--rate",
        "5",
        "--duration",
        "1",
        "--server-workers",
        "2",
        "--redis",
    )
    assert report["delivered"] == report["expected"] == 150  # followers spread over both workers
    assert report["lost"] == report["duplicated"] == 0
    assert "unavailable" in report["server_metrics"]  # one worker's figures are not the node's


def test_quake_delivers_posts_statuses_and_announcements_through_a_storm(tmp_path: Path) -> None:
    args = ["--users", "30", "--degree", "3", "--rate", "2", "--duration", "1", "--quake", "4"]
    _, report = run_scenario(tmp_path, "quake", *args, "--announce-every", "1")
    assert report["scenario"] == "quake"
    assert report["lost"] == report["duplicated"] == 0
    assert report["storm"]["resumed"] == report["connections"]["established"] == 30
    # A third of the users said they were safe; each status reached its author's followers.
    assert report["statuses"]["expected"] > 10 and report["statuses"]["lost"] == 0
    assert report["announcements"]["expected"] == 4 * 30 and report["announcements"]["lost"] == 0
    # Priority deliveries are also timed from the recipient's return: never longer than from send.
    for part in ("statuses", "announcements"):
        available, from_send = report[part]["latency_from_available_ms"], report[part]["latency_from_send_ms"]
        assert available["min"] >= 0 and available["p99"] <= from_send["p99"]


def test_priority_latency_counts_from_the_recipients_return_when_it_was_away() -> None:
    # Sent at t=10: one recipient was connected (ready at 0) and had it at 10.1; the other was
    # away in a storm, back (ready) at 15, and had it from storage at 15.2.
    results = [
        {
            "first_receipts": {"a": [10.1, 15.2]},
            "first_ready": {"a": [0.0, 15.0]},
            "duplicates": 0,
            "errors": {},
            "closes": {},
        }
    ]
    figures = deliveries({"a": 10.05}, results, {"a": 2}, {"a": 10.0})
    assert figures["lost"] == 0
    assert round(figures["latency_from_send_ms"]["max"]) == 5200
    assert [round(figures["latency_from_available_ms"][p]) for p in ("min", "max")] == [100, 200]


def test_keep_leaves_the_folder_with_the_tokens_for_the_owner_only(tmp_path: Path) -> None:
    # One short run checks two things: --keep, and a run where matplotlib cannot be imported.
    hidden = tmp_path / "no-matplotlib" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('matplotlib is hidden by the test')\n")
    result, _ = run_scenario(
        tmp_path,
        "fanout",
        "--followers",
        "30",
        "--rate",
        "5",
        "--duration",
        "2",
        "--keep",
        env={"PYTHONPATH": str(hidden.parent)},
    )
    assert f"plots: none, {html.MISSING_PLOTS}" in result.stdout
    assert "pip install &#x27;tsudoi[loadtest]&#x27;" in (tmp_path / "result.html").read_text()
    [kept] = left_behind(tmp_path)
    assert f"kept {kept}" in result.stdout
    tokens = kept / "accounts.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert len(orjson.loads(tokens.read_bytes())["accounts"]) == 31
    assert (kept / "data").is_dir() and (kept / "server.log").exists()


def _session(leader: int) -> list[str]:
    """The processes still running in the session ``leader`` started (the harness, its server,
    its workers), as command lines. Left out: zombies and processes already exiting (no command
    line), and multiprocessing's resource tracker, which ends by itself when the harness has
    gone, and holds nothing of the run."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if (
            int(fields[3]) == leader
            and fields[0] not in "ZX"
            and command
            and "resource_tracker" not in command
        ):
            found.append(command)
    return found


@pytest.mark.parametrize(
    ("signum", "whom"),
    [(signal.SIGINT, "the terminal's process group, as Ctrl-C does"), (signal.SIGTERM, "the harness alone")],
)
def test_an_interrupted_run_stops_its_processes_and_removes_its_folder(
    tmp_path: Path, signum: int, whom: str
) -> None:
    harness = subprocess.Popen(
        _harness(tmp_path, "fanout", "--followers", "30", "--rate", "5", "--duration", "120"),
        cwd=ROOT,
        env=_private_tmp(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group and session, as a terminal's command has
    )
    try:
        assert harness.stdout is not None
        for line in harness.stdout:  # posting: the server, the workers and the folder are all up
            if line.strip().startswith("t="):
                break
        else:
            raise AssertionError(harness.communicate()[1])
        assert len(left_behind(tmp_path)) == 1
        assert any("server serve" in command for command in _session(harness.pid))
        if whom.startswith("the terminal"):
            os.killpg(harness.pid, signum)
        else:
            harness.send_signal(signum)
        _, errors = harness.communicate(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 128 + signum, errors
    assert f"interrupted by {signal.Signals(signum).name}" in errors and "Traceback" not in errors
    assert left_behind(tmp_path) == []
    assert _session(harness.pid) == []


def _rendered(result: dict[str, Any], *, missing_plots: str | None = None) -> str:
    return html.render(result, "result.json", [] if missing_plots else ["result-latency.png"], missing_plots)


def test_the_report_shows_figures_not_python_data() -> None:
    result = orjson.loads(QUAKE_RESULT.read_bytes())
    page = _rendered(result)
    assert "{'" not in page and "{&#x27;" not in page and "None" not in page
    assert not re.search(r"\d\.\d{7,}", page), re.findall(r"\d\.\d{7,}", page)
    assert "<th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th>" in page  # percentiles as a table
    assert f"<td class=n>{html.ms(result['latency_from_send_ms']['p99'])}</td>" in page
    assert "status share 0.333" in page
    assert result["latency_ms"]["min"] < 0 and html.NEGATIVE_FROM_OK in page.replace("&#x27;", "'")
    assert "No plots" not in page and '<img src="result-latency.png"' in page


def test_the_report_explains_negative_latency_only_when_there_is_some() -> None:
    result = copy.deepcopy(orjson.loads(QUAKE_RESULT.read_bytes()))
    result["latency_ms"] = {point: 1.5 for point in html.POINTS}
    assert html.NEGATIVE_FROM_OK not in _rendered(result).replace("&#x27;", "'")


def test_figures_are_formatted_for_reading() -> None:
    assert [html.ms(v) for v in (-1.3275449, 0.05, 33.999999999999986, 2320.4, None)] == [
        "-1.33",
        "0.05",
        "34.0",
        "2,320",
        "—",
    ]
    assert html.count(224706) == "224,706" and html.rate(149.629, "frames") == "150 frames/s"
    assert [html.plain(v) for v in (True, 10.0, 1 / 3, 5000, "")] == ["yes", "10", "0.333", "5,000", "—"]


def test_the_report_says_when_plots_are_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    result = orjson.loads(QUAKE_RESULT.read_bytes())
    report = html.write(result, tmp_path / "quake.json")
    page = report.page.read_text()
    assert report.plots == [] and report.missing_plots == html.MISSING_PLOTS
    assert "pip install &#x27;tsudoi[loadtest]&#x27;" in page and "<img" not in page
    assert not list(tmp_path.glob("*.png"))


async def test_a_load_client_dropped_before_its_first_post_resumes_what_it_missed(
    server: ServerProcess, users: Users
) -> None:
    """A storm may come before a client's first ``post.created``: it must still reconnect with a
    ``following`` cursor (the moment it first connected), or the server, rightly, replays
    nothing on that stream and a post made while it was away never reaches it."""
    author, fan = await users.author_and_fan()
    writer = await Client.login(server, author.token)
    client = await LoadClient.open(server.ws_url, fan.token)
    try:
        await client.close()  # dropped, with nothing received yet
        away = (await writer.call("post.create", text="posted while the fan was away"))["post"]["id"]
        await client.reconnect()
        assert client.recovered is True
        live = (await writer.call("post.create", text="posted once the fan was back"))["post"]["id"]
        # The backlog is sent before live events: once the live post is here, a replayed one is too.
        async with asyncio.timeout(30):
            while live not in [post_id for post_id, _ in client.received]:
                await asyncio.sleep(0.01)
        assert [post_id for post_id, _ in client.received] == [away, live]
    finally:
        await client.close()


def test_outage_counts_what_each_follower_lost_and_got_twice_through_redis_outages(tmp_path: Path) -> None:
    """Two nodes on one private Redis, shut down and started again twice: every post reaches
    every follower once, the gaps filled in place, and the exit status says so."""
    args = ["outage", "--rounds", "2", "--outages", "1", "--followers", "6", "--rate", "10"]
    result = subprocess.run(
        [*_harness(tmp_path, *args, "--settle", "1", "--drain", "5")],
        cwd=ROOT,
        env=_private_tmp(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    report = orjson.loads((tmp_path / "result.json").read_bytes())
    assert left_behind(tmp_path) == []  # the servers, Redis and the folder are gone
    assert report["scenario"] == "outage" and report["command"].startswith("tsudoi-loadtest outage")
    assert report["followers"] == 6 and report["posts"] > 0
    assert report["expected"] == report["posts"] * 6
    for key in ("lost", "duplicated", "resync_closes", "delivered"):
        assert isinstance(report[key], int), key
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    for entry in report["rounds"]:
        assert entry["outage_seconds"] == 1 and entry["seconds_until_healthy"] is not None
        assert all(isinstance(entry[key], int) for key in ("posts", "lost", "duplicated", "resync_closes"))
    assert {f["node"] for f in report["per_follower"]} == {"a", "b"}
    for follower in report["per_follower"]:
        assert all(
            isinstance(follower[key], int) for key in ("received", "lost", "duplicated", "resync_closes")
        )
    assert report["lost"] == sum(f["lost"] for f in report["per_follower"])
    assert report["duplicated"] == sum(f["duplicated"] for f in report["per_follower"])
    assert f"lost {report['lost']}, duplicated {report['duplicated']}" in result.stdout
    # Exactly once, in place: what issue 15 asks of the server, and what its exit status says.
    assert (report["lost"], report["duplicated"], report["resync_closes"]) == (0, 0, 0), result.stdout
    assert report["reloads"] == report["left_to_reload"] == 0
    assert result.returncode == 0, result.stdout + result.stderr


def test_fanout_refuses_a_negative_settle_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        _harness(tmp_path, "fanout", "--settle", "-1"), cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "seconds must be 0 or more: '-1'" in result.stderr
    assert "Traceback" not in result.stderr


def test_outage_refuses_a_bad_list_of_outages_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        _harness(tmp_path, "outage", "--outages", "1,x"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "not a list of seconds such as 1,5: '1,x'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_load_client_resumes_with_its_recent_positions_and_counts_repeats(
    server: ServerProcess, users: Users
) -> None:
    author, fan = await users.author_and_fan()
    writer = await Client.login(server, author.token)
    client = await LoadClient.open(server.ws_url, fan.token)
    try:
        first = (await writer.call("post.create", text="one"))["post"]["id"]
        async with asyncio.timeout(30):
            while not client.received:
                await asyncio.sleep(0.01)
        assert not client.sent_recent  # nothing held on the first connect
        await client.reconnect()
        assert client.sent_recent and client.recovered is True
        second = (await writer.call("post.create", text="two"))["post"]["id"]
        async with asyncio.timeout(30):
            while len(client.received) < 2:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for a repeat to show up
        figures = client.accounting([first, second])
        assert (figures.lost, figures.duplicated, client.repeated) == (0, 0, 0)
        assert client.accounting([first, second, "01M7Z3MWDW88G9C4QTT0N7GYSQ"]).lost == 1
    finally:
        await client.close()

"""``python -m loadtest`` (or ``tsudoi-loadtest``): run a scenario and write its result.

A run works in a private ``tsudoi-load-*`` folder of the temporary directory (the seeded
database, ``accounts.json`` with every seeded account's live token, the server's log). However
it ends — finished, failed, Ctrl-C or SIGTERM — the harness stops its server and worker
processes and then removes that folder, unless ``--keep`` asks it to leave it (and say where).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from . import html
from .outage import STOP_MODES, OutageOptions, command_line, outage, summary
from .report import codes, server_lines
from .scenarios import ChatOptions, Common, FanoutOptions, QuakeOptions, chat, fanout, quake
from .workspace import TOKENS, Workspace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsudoi-loadtest", description=__doc__)
    scenarios = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    fan = scenarios.add_parser("fanout", help="one author, N followers online, posting at a fixed rate")
    storm = scenarios.add_parser(
        "reconnect-storm", help="fanout, and halfway through every follower drops and reconnects at once"
    )
    talk = scenarios.add_parser(
        "chat", help="M users on a random follow graph, posting at a fixed total rate"
    )
    surge = scenarios.add_parser("surge", help="chat at a steady rate, then eight times that rate")
    shock = scenarios.add_parser(
        "quake",
        help="chat, then ×8 posts, safety statuses from a third of the users, announcements and a "
        "reconnect storm of every client",
    )
    down = scenarios.add_parser(
        "outage",
        help="two nodes on one Redis, shut down and started again round after round: is every "
        "post delivered exactly once to every follower?",
    )
    down.add_argument("--followers", type=int, default=20, help="split across the two nodes")
    down.add_argument("--rate", type=float, default=20.0, help="posts per second from the one author")
    down.add_argument("--rounds", type=int, default=20, help="Redis outages, one after another")
    down.add_argument(
        "--outages",
        type=_seconds_list,
        default=(1.0, 5.0),
        help="seconds without Redis, round by round, cycled (default 1,5)",
    )
    down.add_argument(
        "--settle", type=float, default=3.0, help="seconds of posting before the first outage and after each"
    )
    down.add_argument(
        "--stop", choices=STOP_MODES, default="shutdown", help="redis-cli shutdown nosave, SIGTERM or SIGKILL"
    )
    down.add_argument("--drain", type=float, default=10.0, help="seconds to wait for the last deliveries")
    down.add_argument("--out", type=Path, help="JSON result (default: loadtest-results/outage-<time>.json)")
    down.add_argument("--keep", action="store_true", help="keep the run's folder (database, logs, tokens)")
    for sub in (fan, storm):
        sub.add_argument("--followers", type=int, default=1000)
        sub.add_argument("--rate", type=float, default=2.0, help="posts per second")
        sub.add_argument("--duration", type=float, default=10.0, help="seconds of posting")
    for sub in (talk, surge, shock):
        sub.add_argument("--users", type=int, default=1000)
        sub.add_argument("--degree", type=int, default=20, help="how many others each user follows")
        sub.add_argument("--rate", type=float, default=20.0, help="posts per second, all users together")
        sub.add_argument("--duration", type=float, default=10.0, help="seconds at that rate")
    surge.add_argument(
        "--surge", type=float, default=60.0, help="then this many seconds at eight times the rate"
    )
    fan.add_argument(
        "--ceiling", action="store_true", help="measure the bare-websockets broadcast server instead"
    )
    fan.add_argument(
        "--settle",
        type=_non_negative_seconds,
        default=0.0,
        help="seconds to wait after the last follower connects before measuring (default 0)",
    )
    shock.add_argument("--quake", type=float, default=60.0, help="seconds of the quake")
    shock.add_argument("--announce-every", type=float, default=5.0, help="seconds between announcements")
    for sub in (fan, storm, talk, surge, shock):
        sub.add_argument("--workers", type=int, default=0, help="generator processes (default: spare cores)")
        sub.add_argument(
            "--server-workers", type=int, default=1, help="tsudoi serve --workers (needs --redis-url)"
        )
        sub.add_argument("--redis-url", default="", help="run the server on this Redis")
        sub.add_argument("--redis", action="store_true", help="start a private redis-server for the run")
        sub.add_argument(
            "--out",
            type=Path,
            help="JSON result; the HTML report and its plots go beside it "
            "(default: loadtest-results/<scenario>-<time>.json)",
        )
        sub.add_argument(
            "--keep",
            action="store_true",
            help="keep the run's folder (seeded database, server log, accounts.json with live "
            "tokens) instead of removing it; the harness prints where it is",
        )
    return parser


def _non_negative_seconds(text: str) -> float:
    """``2.5`` → 2.5: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"seconds must be 0 or more: {text!r}")
    return value


def _seconds_list(text: str) -> tuple[float, ...]:
    """``1,5`` → (1.0, 5.0): every one a positive number of seconds."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds such as 1,5: {text!r}") from None
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"seconds must be positive: {text!r}")
    return values


def _options(args: argparse.Namespace) -> Common | OutageOptions:
    if args.scenario == "outage":
        return OutageOptions(
            followers=args.followers,
            rate=args.rate,
            rounds=args.rounds,
            outages=args.outages,
            settle=args.settle,
            stop=args.stop,
            drain=args.drain,
            command=command_line(),
        )
    common = {
        "workers": args.workers,
        "server_workers": args.server_workers,
        "redis_url": args.redis_url,
        "redis": args.redis,
    }
    if args.scenario in ("fanout", "reconnect-storm"):
        return FanoutOptions(
            **common,
            ceiling=getattr(args, "ceiling", False),
            followers=args.followers,
            rate=args.rate,
            duration=args.duration,
            storm=args.scenario == "reconnect-storm",
            settle=getattr(args, "settle", 0.0),
        )
    if args.scenario == "quake":
        return QuakeOptions(
            **common,
            users=args.users,
            degree=args.degree,
            rate=args.rate,
            duration=args.duration,
            quake=args.quake,
            announce_every=args.announce_every,
        )
    return ChatOptions(
        **common,
        users=args.users,
        degree=args.degree,
        rate=args.rate,
        duration=args.duration,
        surge=getattr(args, "surge", 0.0),
    )


def _summary(result: dict[str, Any], out: Path) -> str:
    lines = []
    if result.get("storm") is not None:
        storm = result["storm"]
        line = (
            f"  storm: {storm['resumed']:,}/{result['connections']['established']:,} resumed with nothing missed "
            f"in {storm['seconds']:.1f}s, failed {codes(storm['failed'])}"
        )
        if storm.get("server_cpu_seconds") is not None:
            line += (
                f"; server CPU {storm['server_cpu_seconds']:.1f}s "
                f"({storm['server_cpu_ms_per_resume'] or 0:.2f} ms per resume)"
            )
        if storm.get("generator_busiest") is not None:
            line += (
                f"; generator CPU {storm['generator_cpu_seconds']:.1f}s, its busiest process "
                f"{storm['generator_busiest']:.0%} of the storm"
            )
        lines.append(line)
    latency, server = result["latency_ms"], result["server"]
    lines.append(
        f"  delivered {result['delivered']:,}/{result['expected']:,} (lost {result['lost']:,}, "
        f"duplicated {result['duplicated']:,}), {result['delivered_per_second']:,.0f}/s"
    )
    for label, figures in (("from ok", latency), ("from send", result["latency_from_send_ms"])):
        if figures["p50"] is not None:
            lines.append(
                f"  latency ms {label:9}: p50 {figures['p50']:.1f}  p90 {figures['p90']:.1f}  "
                f"p99 {figures['p99']:.1f}  max {figures['max']:.1f}"
            )
            if label == "from ok" and figures["p50"] < 0:
                lines[-1] += "  (negative: followers had posts before their author had the ok)"
    if server["cpu_us_per_delivered_frame"] is not None:
        lines.append(
            f"  server: {server['cpu_us_per_delivered_frame']:.1f} µs CPU per delivered frame, "
            f"RSS {server['rss_bytes'] / 2**20:.0f} MiB"
        )
    for label in (
        "statuses",
        "announcements",
        "statuses_outside_storm",
        "announcements_outside_storm",
        "posts_outside_storm",
    ):
        if result.get(label) is not None:
            part = result[label]
            figures = part["latency_from_send_ms"]
            p99 = f"{figures['p99']:.1f}" if figures["p99"] is not None else "—"
            available = part.get("latency_from_available_ms")
            back = (
                ""
                if available is None
                else f", from send or the recipient's return {available['p99']:.1f} ms"
            )
            lines.append(
                f"  {label}: delivered {part['delivered']:,}/{part['expected']:,} (lost {part['lost']:,}), "
                f"p99 from send {p99} ms{back}"
            )
    lines.extend(f"  {line}" for line in server_lines(result))
    lines.append(f"  result: {out}")
    return "\n" + "\n".join(lines)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the run stops where it is and cleans up.

    A ``KeyboardInterrupt`` so that asyncio treats it as one: it leaves the running task at once,
    and ``asyncio.run`` cancels the others, whose ``finally`` blocks stop the run's processes."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Signals:
    """SIGINT and SIGTERM raise ``Interrupted``, once. From then on, and while ``hold`` is set
    (the cleanup of a run that ended), a signal is only noted: the cleanup it would cut short is
    what removes the tokens."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.hold = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None and not self.hold:
            self.received = signum
            self.hold = True
            raise Interrupted(signum)
        self.received = self.received or signum
        # Straight to the file descriptor: a print here could land inside another print.
        os.write(2, "  stopping the run's processes and removing its folder first…\n".encode())

    @contextmanager
    def installed(self) -> Iterator[_Signals]:
        # asyncio.run leaves a SIGINT handler of ours in place (it installs its own only over the
        # default one), so both signals behave alike, even while the loop is blocked in a pipe.
        previous = {number: signal.signal(number, self) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _quiet_interrupts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's handler of errors nobody awaited, less ``Interrupted``: the signal ends the run
    from whichever task it lands in (the progress ticker's, say), that task keeps it, and asyncio
    would print its traceback when the task is collected. The run reports it once, plainly."""
    if not isinstance(context.get("exception"), Interrupted):
        loop.default_exception_handler(context)


async def _scenario(options: Common | OutageOptions, space: Workspace) -> dict[str, Any]:
    asyncio.get_running_loop().set_exception_handler(_quiet_interrupts)
    if isinstance(options, OutageOptions):
        return await outage(options, space)
    if isinstance(options, FanoutOptions):
        return await fanout(options, space)
    if isinstance(options, QuakeOptions):
        return await quake(options, space)
    return await chat(options, space)  # type: ignore[arg-type]


def _failure(exc: BaseException) -> str:
    """What went wrong, in a line or a few (the run's folder, with the logs, may be gone)."""
    if isinstance(exc, Interrupted):
        return f"interrupted by {exc}"
    if isinstance(exc, subprocess.CalledProcessError):
        output = exc.stderr.decode(errors="replace").strip() if isinstance(exc.stderr, bytes) else ""
        return f"{' '.join(map(str, exc.cmd[2:5]))} failed (exit {exc.returncode})\n{output}"
    return str(exc)


def _kept(folder: Path) -> str:
    return (
        f"  kept {folder}: the seeded database, the server's log and {TOKENS} (live tokens, "
        "mode 0600); remove it when done"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = _options(args)
    print(f"{args.scenario}: {options}", flush=True)
    with _Signals().installed() as signals:
        space: Workspace | None = None
        result: dict[str, Any] | None = None
        failure: BaseException | None = None
        try:
            space = Workspace(keep=args.keep)
            result = asyncio.run(_scenario(options, space))
        except (Interrupted, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            failure = exc  # a clear line below, after the cleanup; anything else is a bug: traceback
        finally:
            signals.hold = True  # from here to the end a signal waits: the cleanup must finish
            kept = space.close() if space is not None else None
        if result is None:
            stopped = "stopped its server and workers, " + (
                "kept its folder" if kept else "removed its folder (--keep keeps it)"
            )
            why = _failure(failure) if failure is not None else "no result"
            print(f"tsudoi-loadtest: {why}\n  {stopped}", file=sys.stderr, flush=True)
            if kept:
                print(_kept(kept), flush=True)
            return 128 + failure.signum if isinstance(failure, Interrupted) else 1
        out = args.out or Path("loadtest-results") / f"{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        if result["scenario"] == "outage":  # exactness, not throughput: no plots to draw
            print("\n" + summary(result) + f"\n  result: {out}", flush=True)
        else:
            report = html.write(result, out)
            print(_summary(result, out) + f"\n  report: {report.page}", flush=True)
            if report.missing_plots:
                print(f"  plots: none, {report.missing_plots}", flush=True)
        if kept:
            print(_kept(kept), flush=True)
        if signals.received is not None:  # during the cleanup: the result is written, then stop
            return 128 + signals.received
    clean = result["lost"] == 0 and result["duplicated"] == 0
    clean = clean and all(
        result[part]["lost"] == 0 for part in ("statuses", "announcements") if part in result
    )
    if result.get("storm") is not None:
        clean = clean and result["storm"]["resumed"] == result["connections"]["established"]
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())

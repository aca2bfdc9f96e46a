"""``python -m loadtest`` (or ``tsudoi-loadtest``): run a scenario and write its result."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from . import html
from .report import codes, server_lines
from .scenarios import ChatOptions, Common, FanoutOptions, QuakeOptions, chat, fanout, quake


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
            "--out", type=Path, help="JSON result (default: loadtest-results/<scenario>-<time>.json)"
        )
    return parser


def _options(args: argparse.Namespace) -> Common:
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
            lines.append(
                f"  {label}: delivered {part['delivered']:,}/{part['expected']:,} (lost {part['lost']:,}), "
                f"p99 from send {p99} ms"
            )
    lines.extend(f"  {line}" for line in server_lines(result))
    lines.append(f"  result: {out}")
    return "\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = _options(args)
    print(f"{args.scenario}: {options}", flush=True)
    if isinstance(options, FanoutOptions):
        scenario = fanout(options)
    elif isinstance(options, QuakeOptions):
        scenario = quake(options)
    else:
        scenario = chat(options)  # type: ignore[arg-type]
    result = asyncio.run(scenario)
    out = args.out or Path("loadtest-results") / f"{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    report = html.write(result, out)
    print(_summary(result, out) + f"\n  report: {report.page}", flush=True)
    if report.missing_plots:
        print(f"  plots: none, {report.missing_plots}", flush=True)
    clean = result["lost"] == 0 and result["duplicated"] == 0
    clean = clean and all(
        result[part]["lost"] == 0 for part in ("statuses", "announcements") if part in result
    )
    if result.get("storm") is not None:
        clean = clean and result["storm"]["resumed"] == result["connections"]["established"]
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())

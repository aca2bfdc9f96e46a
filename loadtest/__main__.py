"""``python -m loadtest`` (or ``tsudoi-loadtest``): run a scenario and write its result."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from .scenarios import FanoutOptions, fanout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsudoi-loadtest", description=__doc__)
    scenarios = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    fan = scenarios.add_parser("fanout", help="one author, N followers online, posting at a fixed rate")
    storm = scenarios.add_parser(
        "reconnect-storm", help="fanout, and halfway through every follower drops and reconnects at once"
    )
    for sub in (fan, storm):
        sub.add_argument("--followers", type=int, default=1000)
        sub.add_argument("--rate", type=float, default=2.0, help="posts per second")
        sub.add_argument("--duration", type=float, default=10.0, help="seconds of posting")
        sub.add_argument("--workers", type=int, default=0, help="generator processes (default: spare cores)")
        sub.add_argument(
            "--server-workers", type=int, default=1, help="tsudoi serve --workers (needs --redis-url)"
        )
        sub.add_argument("--redis-url", default="", help="run the server on this Redis")
        sub.add_argument(
            "--out", type=Path, help="JSON result file (default: loadtest-results/<scenario>-<time>.json)"
        )
    fan.add_argument(
        "--ceiling",
        action="store_true",
        help="measure the bare-websockets broadcast server instead of Tsudoi",
    )
    args = parser.parse_args(argv)

    options = FanoutOptions(
        followers=args.followers,
        rate=args.rate,
        duration=args.duration,
        workers=args.workers,
        server_workers=args.server_workers,
        redis_url=args.redis_url,
        ceiling=getattr(args, "ceiling", False),
        storm=args.scenario == "reconnect-storm",
    )
    print(
        f"fanout: {options.followers} followers, {options.rate:g} posts/s for {options.duration:g}s",
        flush=True,
    )
    result = asyncio.run(fanout(options))
    out = args.out or Path("loadtest-results") / f"{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if result["storm"] is not None:
        storm_result = result["storm"]
        print(
            f"\n  storm: {storm_result['resumed']}/{result['connections']['established']} resumed with nothing "
            f"missed in {storm_result['seconds']:.1f}s, failed {storm_result['failed'] or 0}",
            flush=True,
        )
    latency = result["latency_ms"]
    server = result["server"]
    print(
        f"\n  delivered {result['delivered']}/{result['expected']} (lost {result['lost']}, "
        f"duplicated {result['duplicated']}), {result['delivered_per_second']:.0f}/s\n"
        f"  latency ms: p50 {latency['p50']:.1f}  p90 {latency['p90']:.1f}  p99 {latency['p99']:.1f}  max {latency['max']:.1f}\n"
        f"  server: {server['cpu_us_per_delivered_frame']:.1f} µs CPU per delivered frame, "
        f"RSS {server['rss_bytes'] / 2**20:.0f} MiB\n  result: {out}",
        flush=True,
    )
    clean = result["lost"] == 0 and result["duplicated"] == 0
    if result["storm"] is not None:
        clean = clean and result["storm"]["resumed"] == result["connections"]["established"]
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())

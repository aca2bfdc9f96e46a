#!/usr/bin/env python3
"""During an incident, posts the alerts appended to a local file as announcements.

    TSUDOI_TOKEN=tsd_... python examples/announcer.py --community 01M7... --alerts alerts.txt

The bot must own (or moderate) a certified community (``tsudoi admin certify COMMUNITY_ID``):
its announcements reach every member first and notify them. Each line appended to the alerts
file is one alert (blank lines are skipped; a long one is split into posts of at most 149
characters). Alerts are posted only while an operator's incident is active; lines written
outside one are skipped, so a stale drill never goes out. How far the file has been read is kept
in ``--state``, so a restart neither repeats nor drops alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path

import regex

from protocol.sdk import Bot, ClientClosed, TerminalClose
from protocol.text import POST_MAX_CLUSTERS

_CLUSTER = regex.compile(r"\X")


def chunks(text: str, size: int = POST_MAX_CLUSTERS) -> list[str]:
    """``text`` in pieces of at most ``size`` user-perceived characters (grapheme clusters)."""
    clusters = _CLUSTER.findall(text)
    return ["".join(clusters[i : i + size]) for i in range(0, len(clusters), size)]


class Announcer:
    def __init__(self, bot: Bot, community_id: str, alerts: Path, state: Path) -> None:
        self.bot, self.community_id, self.alerts, self.state = bot, community_id, alerts, state
        self.offset = json.loads(state.read_text())["offset"] if state.exists() else 0

    def _save(self) -> None:
        self.state.write_text(json.dumps({"offset": self.offset}))

    def _new_lines(self) -> list[tuple[str, int]]:
        """Complete lines after the offset, each with the offset just past it."""
        try:
            data = self.alerts.read_bytes()
        except FileNotFoundError:
            return []
        if len(data) < self.offset:  # the file was replaced: start over
            self.offset = 0
        lines, at = [], self.offset
        while (end := data.find(b"\n", at)) != -1:
            lines.append((data[at:end].decode("utf-8", errors="replace").strip(), end + 1))
            at = end + 1
        return lines

    async def poll(self) -> None:
        for line, next_offset in self._new_lines():
            if line and self.bot.incident is None:
                logging.info("no active incident: skipping %r", line)
            elif line:
                for piece in chunks(line):
                    post = (await self.bot.community_announce(self.community_id, piece)).post
                    logging.info("announced %s: %s", post.id, piece)
            self.offset = next_offset
            self._save()  # after posting: a crash here repeats one alert rather than losing it


async def run(args: argparse.Namespace) -> None:
    bot = Bot(args.url, args.token)
    announcer = Announcer(bot, args.community, Path(args.alerts), Path(args.state))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bot.on("incident.started")(lambda event: logging.info("incident: %s", event.incident.title))
    bot.on("incident.ended")(lambda event: logging.info("incident over: %s", event.incident.title))
    async with bot:
        if bot.incident is not None:
            logging.info("incident: %s", bot.incident.title)
        community = (await bot.community_get(args.community)).community
        if not community.certified:
            logging.warning("%s is not certified: announcements will be refused", community.name)
        logging.info("watching %s for %s", args.alerts, community.name)
        while not stop.is_set():
            try:
                await announcer.poll()
            except (ClientClosed, TerminalClose):
                raise  # stopped for good (a revoked token, say): nothing to retry
            except Exception:  # a refused or failed post: log it, try the next poll again
                logging.exception("announcing failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.poll)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Post alerts from a file as announcements during an incident."
    )
    parser.add_argument("--url", default=os.environ.get("TSUDOI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("TSUDOI_TOKEN"), help="or TSUDOI_TOKEN")
    parser.add_argument("--community", required=True, help="the certified community's id")
    parser.add_argument("--alerts", required=True, help="the file alerts are appended to, one per line")
    parser.add_argument("--state", default="announcer-state.json", help="how far the file has been read")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the file")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give the bot's token with --token or TSUDOI_TOKEN")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

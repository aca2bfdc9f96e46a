#!/usr/bin/env python3
"""Answers every direct message with the same words: the bot that docs/bots.md walks through.

    TSUDOI_URL=http://127.0.0.1:8000 TSUDOI_TOKEN=tsd_... python examples/echo_dm_bot.py

It keeps its place in ``echo-cursors.json`` (``--cursors``): stop it, restart it, and it answers
the messages that came in meanwhile, each exactly once. Ctrl-C (or SIGTERM) stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os

from protocol.sdk import Bot, messages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A Tsudoi bot that echoes direct messages.")
    parser.add_argument("--url", default=os.environ.get("TSUDOI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("TSUDOI_TOKEN"), help="or TSUDOI_TOKEN")
    parser.add_argument("--cursors", default="echo-cursors.json", help="where to keep its place")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give the bot's token with --token or TSUDOI_TOKEN")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    bot = Bot(args.url, args.token, cursor_store=args.cursors)

    @bot.on("dm.message")
    async def echo(event: messages.DmMessageEvent) -> None:
        message = event.message
        # Every message of our conversations comes here, our own answers and the server's
        # lines ("created", "added", "left") included: answer only people's text.
        if message.kind != "text" or bot.user is None or message.author.id == bot.user.id:
            return
        await bot.dm_send(message.conversation_id, message.text)
        logging.info("echoed @%s: %s", message.author.handle, message.text)

    bot.run()  # until Ctrl-C or SIGTERM


if __name__ == "__main__":
    main()

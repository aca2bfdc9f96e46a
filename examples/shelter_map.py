#!/usr/bin/env python3
"""Draws a map of the shelters listed in a JSON file and posts it, described in its alt text.

    TSUDOI_TOKEN=tsd_... python examples/shelter_map.py --shelters shelters.json

The file names an area and its shelters, each with a position and whether it takes people in::

    {"area": "青葉区", "shelters": [
        {"name": "市役所", "lat": 38.2682, "lon": 140.8694, "state": "open"},
        {"name": "五橋中学校", "lat": 38.2530, "lon": 140.8760, "state": "full"}]}

``state`` is ``open``, ``full`` or ``closed``. Each shelter is a numbered dot (green, orange,
grey) on a small PNG drawn with Pillow, north up. A map says nothing to someone who cannot see
it, so the alt text says everything the map does, in words: every shelter by its number, name
and state. The post goes to the bot's followers, or with ``--community`` to a community. Run it
from cron when the list changes; ``--save map.png`` writes the picture and posts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import regex
from PIL import Image, ImageDraw, ImageFont

from protocol.sdk import Bot, attach

SIZE = (800, 600)
MARGIN = 60
COLOURS = {"open": (30, 150, 60), "full": (230, 130, 20), "closed": (130, 130, 130)}
STATES = {"open": "受け入れ中", "full": "満員", "closed": "閉鎖"}
_CLUSTER = regex.compile(r"\X")


@dataclass(frozen=True)
class Shelter:
    name: str
    lat: float
    lon: float
    state: str


def read_shelters(path: Path) -> tuple[str, list[Shelter]]:
    """The area and its shelters; a malformed file raises ``ValueError`` saying what is wrong."""
    data = json.loads(path.read_text(encoding="utf-8"))
    shelters = []
    for n, item in enumerate(data.get("shelters") or [], 1):
        try:
            shelter = Shelter(str(item["name"]), float(item["lat"]), float(item["lon"]), str(item["state"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"shelter {n}: needs name, lat, lon and state ({exc})") from None
        if shelter.state not in STATES:
            raise ValueError(f"shelter {n}: state is one of {', '.join(STATES)}, not {shelter.state!r}")
        shelters.append(shelter)
    if not shelters:
        raise ValueError(f"{path}: no shelters")
    return str(data.get("area") or ""), shelters


def position(shelter: Shelter, shelters: list[Shelter]) -> tuple[int, int]:
    """Where ``shelter`` goes on the map: the shelters' bounding box fills it, north up."""
    lats, lons = [s.lat for s in shelters], [s.lon for s in shelters]
    span_lat, span_lon = (max(lats) - min(lats)) or 1.0, (max(lons) - min(lons)) or 1.0
    x = MARGIN + (shelter.lon - min(lons)) / span_lon * (SIZE[0] - 2 * MARGIN)
    y = MARGIN + (max(lats) - shelter.lat) / span_lat * (SIZE[1] - 2 * MARGIN)
    return round(x), round(y)


def draw_map(shelters: list[Shelter]) -> bytes:
    """The map as PNG bytes: a pale ground, a north arrow, one numbered dot per shelter."""
    image = Image.new("RGB", SIZE, (244, 241, 232))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=16)
    draw.polygon([(SIZE[0] - 30, 12), (SIZE[0] - 38, 34), (SIZE[0] - 22, 34)], fill=(60, 60, 60))
    draw.text((SIZE[0] - 34, 36), "N", fill=(60, 60, 60), font=font)
    for number, shelter in enumerate(shelters, 1):
        x, y = position(shelter, shelters)
        draw.ellipse((x - 14, y - 14, x + 14, y + 14), fill=COLOURS[shelter.state], outline=(255, 255, 255))
        draw.text((x, y), str(number), fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def clip(text: str, clusters: int) -> str:
    """``text`` cut to at most ``clusters`` user-perceived characters, marked if cut."""
    parts = _CLUSTER.findall(text)
    return text if len(parts) <= clusters else "".join(parts[: clusters - 1]) + "…"


def describe(area: str, shelters: list[Shelter]) -> str:
    """The alt text: what the map shows, in words."""
    where = f"{area}の" if area else ""
    listed = "、".join(f"{n}番 {s.name}（{STATES[s.state]}）" for n, s in enumerate(shelters, 1))
    return f"{where}避難所{len(shelters)}か所の地図。北が上。{listed}。"


def summary(area: str, shelters: list[Shelter]) -> str:
    """The post's text: how many take people in now."""
    taking = sum(s.state == "open" for s in shelters)
    return f"{area}の避難所マップ：受け入れ中 {taking}／{len(shelters)}か所（緑＝受け入れ中、橙＝満員、灰＝閉鎖）"


async def post_map(bot: Bot, area: str, shelters: list[Shelter], community_id: str | None) -> str:
    """Upload the map and post it with its alt text; the post's id."""
    picture = await bot.upload(draw_map(shelters))
    assert bot.hello is not None  # connected: the server's limits are known
    limits = bot.hello.limits
    alt = clip(describe(area, shelters), limits.alt_max_clusters)
    text = clip(summary(area, shelters), limits.post_max_clusters)
    post = (await bot.post_create(text, community_id=community_id, media=[attach(picture, alt)])).post
    return post.id


async def run(args: argparse.Namespace, area: str, shelters: list[Shelter]) -> None:
    async with Bot(args.url, args.token) as bot:
        post_id = await post_map(bot, area, shelters, args.community)
    print(f"posted {post_id}: {len(shelters)} shelter(s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Post a map of shelters, described in its alt text.")
    parser.add_argument("--url", default=os.environ.get("TSUDOI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("TSUDOI_TOKEN"), help="or TSUDOI_TOKEN")
    parser.add_argument("--shelters", required=True, help="JSON file: area and shelters (see above)")
    parser.add_argument("--community", help="post to this community instead of to followers")
    parser.add_argument("--save", help="write the map to this PNG file and print its alt; post nothing")
    args = parser.parse_args(argv)
    if not args.token and not args.save:
        parser.error("give the bot's token with --token or TSUDOI_TOKEN")
    try:
        area, shelters = read_shelters(Path(args.shelters))
        if args.save:
            Path(args.save).write_bytes(draw_map(shelters))
            print(describe(area, shelters))
            return
    except (OSError, ValueError) as exc:  # a missing or malformed file: say so, no traceback
        parser.exit(2, f"shelter_map: {exc}\n")
    asyncio.run(run(args, area, shelters))


if __name__ == "__main__":
    main()

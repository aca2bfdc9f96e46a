"""Pictures for bots: what an upload takes, and how an uploaded picture is attached.

A picture goes up over HTTP (``POST /api/media``, PROTOCOL.md section 11.11) and comes back as a
:class:`~protocol.messages.Media`; a post or a message then names it by id, with its alt text::

    picture = await bot.upload("map.png")
    await bot.post_create("避難所の地図", media=[attach(picture, "青葉区の避難所3か所の地図")])

The server reads the format from the bytes, re-encodes every picture and drops its metadata
(the GPS position of a phone's photo included), so the SDK sends the file as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from protocol import messages as m

__all__ = ["MediaKind", "PictureSource", "attach", "read_picture", "resolve_media_url"]

#: A picture to upload: its bytes, or the path of a file holding them.
PictureSource = bytes | bytearray | memoryview | str | os.PathLike[str]
#: ``post`` for the pictures of posts, announcements and messages; ``avatar`` for a profile
#: picture (cropped to a centred square by the server).
MediaKind = Literal["post", "avatar"]


def read_picture(data: PictureSource) -> bytes:
    """The bytes of ``data``: given as they are, or read from the file a path names (a missing
    file raises :class:`FileNotFoundError` here, before anything is sent)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    return Path(data).read_bytes()


def attach(media: m.Media | str, alt: str | None = None) -> m.MediaAttachment:
    """The ``media`` entry of ``post_create``, ``dm_send`` or ``community_announce`` for an
    upload (its :class:`~protocol.messages.Media` or id), with its alt text: what the picture
    shows, for people who cannot see it (at most ``limits.alt_max_clusters`` characters)."""
    return m.MediaAttachment(id=media if isinstance(media, str) else media.id, alt=alt)


def resolve_media_url(base: str, url: str | m.MediaVariant) -> str:
    """A variant's ``url`` (a path on the server, ``/media/<id>/display``) as an absolute URL
    under the server's HTTP base ``base``; an absolute URL is kept as it is."""
    path = url.url if isinstance(url, m.MediaVariant) else url
    if path.startswith(("http://", "https://")):
        return path
    if not path.startswith("/"):
        raise ValueError(f"not a picture's URL: {path!r}")
    return base.rstrip("/") + path

"""The page's text files served gzipped to browsers that take it.

During an incident a cold start on a congested phone network is mostly the SPA's JavaScript and
CSS (BENCHMARKS.md, "Start-up bytes during an incident"): about 325 kB as they are, about a third
of that gzipped. Each file is compressed once, when first asked for, and kept in memory keyed by
its path, size and modification time, so an edited file (a development checkout) is compressed
again and a served one costs nothing more. The page is small (tens of files); the cache is
bounded anyway.

The compressed copy is a different representation of the same URL, so it has its own strong
ETag, and every answer says ``Vary: Accept-Encoding`` so that no cache hands one to a client that
asked for the other (RFC 9110, sections 8.8.3 and 12.5.5).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
import os
from email.utils import formatdate

#: What is worth compressing: text. Pictures and fonts are compressed already.
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".html", ".json", ".svg", ".webmanifest", ".txt", ".map"})


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip: listed (or ``*``) with a q above 0."""
    admitted: dict[str, bool] = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        admitted[coding.strip()] = quality > 0
    return admitted.get("gzip", admitted.get("x-gzip", admitted.get("*", False)))


def compressible(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in COMPRESSIBLE


@functools.lru_cache(maxsize=256)
def _compress(path: str, size: int, mtime_ns: int) -> tuple[bytes, str]:
    """The gzipped bytes of ``path`` and their ETag. ``size`` and ``mtime_ns`` are the cache key's
    way of noticing a changed file; ``mtime=0`` keeps the bytes (and the ETag) the same on every
    node and at every start."""
    with open(path, "rb") as file:
        data = gzip.compress(file.read(), compresslevel=9, mtime=0)
    return data, f'"gz-{hashlib.sha256(data).hexdigest()[:32]}"'


def gzipped(path: str, stat: os.stat_result) -> tuple[bytes, dict[str, str]]:
    """The compressed body of the file at ``path`` and the headers that describe it."""
    body, etag = _compress(path, stat.st_size, stat.st_mtime_ns)
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/javascript":
        media_type += "; charset=utf-8"
    return body, {
        "content-type": media_type,
        "content-encoding": "gzip",
        "etag": etag,
        "last-modified": formatdate(stat.st_mtime, usegmt=True),
        "vary": "Accept-Encoding",
    }

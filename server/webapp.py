"""The two files of the installable app that must live at the site's root rather than under
``/static/``: the service worker, whose scope is the folder it is served from (so ``/sw.js``
controls every page of the site), and the web app manifest.

``/sw.js`` is ``web/sw.js`` with the app shell filled in: the list of files it precaches and a
version digested from their bytes. Any change to a file of the page therefore changes the
worker's bytes, which is what makes browsers install the new worker, precache the new files and
drop the old cache (docs/spa.md, "Offline"). It is served ``no-cache`` so that the browser's
update check always reaches the server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

import web

from .http import security_headers

WEB_ROOT = web.ROOT
#: The placeholder in web/sw.js that the server replaces with the shell's JSON.
SHELL_PLACEHOLDER = '"__TSUDOI_SHELL__"'
#: Files of web/ the worker does not precache: itself, the manifest (fetched by the browser,
#: not the page) and the full-size icons, which only an installer asks for.
NOT_PRECACHED = {"sw.js", "manifest.webmanifest", "index.html"}
MANIFEST_TYPE = "application/manifest+json"


def shell_files(root: Path = WEB_ROOT) -> list[Path]:
    """The page's files under ``root`` as the worker precaches them (no Python, no icons)."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in {".py", ".pyc"}
        and "__pycache__" not in path.parts
        and path.relative_to(root).as_posix() not in NOT_PRECACHED
        and path.relative_to(root).parts[0] != "icons"
    )


def shell(root: Path = WEB_ROOT) -> dict[str, object]:
    """``{"version", "files"}``: the URLs to precache ("/" is the page itself) and a digest of
    every byte they and the worker hold."""
    digest = hashlib.sha256()
    urls = ["/"]
    digest.update((root / "index.html").read_bytes())
    for path in shell_files(root):
        name = path.relative_to(root).as_posix()
        urls.append(f"/static/{name}")
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return {"version": digest.hexdigest()[:16], "files": urls}


def worker_script(root: Path = WEB_ROOT) -> bytes:
    source = (root / "sw.js").read_text()
    worker = source.replace(SHELL_PLACEHOLDER, json.dumps(shell(root)), 1)
    digest = hashlib.sha256(worker.encode()).hexdigest()[:16]
    # The worker's own bytes count too: a change to sw.js alone must make a new cache.
    return worker.replace("__TSUDOI_WORKER__", digest, 1).encode()


async def service_worker(request: Request) -> Response:
    """``/sw.js``: read afresh on each request (a few hundred kB hashed, at most once per page
    load), so that a file edited under a running server is never served under an old version."""
    headers = {**security_headers(), "Service-Worker-Allowed": "/"}
    return Response(worker_script(), media_type="text/javascript", headers=headers)


async def manifest(request: Request) -> Response:
    """``/manifest.webmanifest`` with its registered media type (Python's mimetypes lacks it)."""
    body = (WEB_ROOT / "manifest.webmanifest").read_bytes()
    return Response(body, media_type=MANIFEST_TYPE, headers={"Cache-Control": "no-cache"})

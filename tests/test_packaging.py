"""The package is complete: a wheel built from this checkout, installed into a fresh virtual
environment outside the repository, serves the whole page from an empty directory.

This is what an operator gets from ``pip install tsudoi``. It catches what an editable install
hides: a file the page loads, a migration or the spec that is in the repository but not in the
wheel. Its dependencies come from ``requirements/serve.txt`` with their hashes, as
``scripts/serve`` installs them (from pip's cache after ``scripts/test``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
#: What a page file may load: HTML attributes, CSS url() and @import, ES module specifiers.
_HTML_REF = re.compile(r"""\b(?:href|src)=["']([^"'#]+)["']""")
_CSS_REF = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")
_JS_REF = re.compile(
    r"""(?:\bimport|\bexport)\s[^;'"]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(?\s*["']([^"']+)["']"""
    r"""|serviceWorker\.register\(\s*["']([^"']+)["']"""
)
#: Files of web/ served at the site's root rather than under /static/ (server/webapp.py).
AT_ROOT = {"/sw.js": "/static/sw.js", "/manifest.webmanifest": "/static/manifest.webmanifest"}


def page_files() -> list[str]:
    """Every file of the page, as the repository has it (web/'s Python is not part of it)."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in WEB.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"}
    )


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def clean_env() -> dict[str, str]:
    """The environment of an operator's shell: nothing pointing back into this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TSUDOI_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel and an sdist built from the checkout with the locked setuptools, no downloads."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, ROOT)
    run(
        sys.executable,
        "-c",
        f"import setuptools.build_meta as backend; backend.build_sdist({str(out)!r})",
        cwd=ROOT,
    )
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repository with the wheel and its locked dependencies."""
    home = tmp_path_factory.mktemp("operator")
    env = clean_env()
    # The base interpreter, not this venv's: nothing of the test environment leaks in. The venv
    # gets no pip of its own (ensurepip's few seconds): the test's pip installs into it with
    # --python, byte-compiling as usual.
    base = getattr(sys, "_base_executable", sys.executable)
    run(base, "-m", "venv", "--without-pip", home / "venv", env=env)
    python = home / "venv" / "bin" / "python"
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
    run(*pip, "--require-hashes", "-r", ROOT / "requirements" / "serve.txt", cwd=home, env=env)
    (wheel,) = dist.glob("tsudoi-*.whl")
    run(*pip, "--no-deps", wheel, cwd=home, env=env)
    return home / "venv"


def test_the_wheel_and_the_sdist_carry_every_file_of_the_page(dist: Path) -> None:
    (wheel,) = dist.glob("tsudoi-*.whl")
    (sdist,) = dist.glob("tsudoi-*.tar.gz")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = page_files()
    assert len(expected) > 20
    for name in [*expected, "server/store/sqlite/migrations/0001_initial.sql", "protocol/asyncapi.json"]:
        assert name in in_wheel, name
        assert name in in_sdist, name
    assert "LICENSE" in in_sdist
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in in_wheel)


def test_an_installed_wheel_serves_the_page_from_an_empty_directory(venv: Path, tmp_path: Path) -> None:
    bin_ = venv / "bin"
    env = clean_env()
    where = run(
        bin_ / "python", "-c", "import server, web; print(server.__file__, web.ROOT)", cwd=tmp_path, env=env
    )
    assert str(ROOT) not in where and str(venv) in where, where  # really the installed copy
    for script in ("tsudoi", "tsudoi-loadtest"):
        assert "usage" in run(bin_ / script, "--help", cwd=tmp_path, env=env).lower()

    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [bin_ / "tsudoi", "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=log
        )
    try:
        base = f"http://127.0.0.1:{port}"
        invite = wait_for_invite(log_path, proc)
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/healthz").status_code == 200
            # Everything "/" references, transitively, is served; and that is every file of the
            # page but the shell itself, which "/" is.
            fetched = crawl(http, "/")
            assert fetched == {f"/static/{name.removeprefix('web/')}" for name in page_files()} - {
                "/static/index.html"
            }
            invite_page = http.get(f"/i/{invite}")
            assert invite_page.status_code == 200 and "/static/js/app.js" in invite_page.text
            info = http.get(f"/api/invites/{invite}")
            assert info.status_code == 200, info.text
        assert (tmp_path / "tsudoi-data").is_dir()  # the embedded default, where the README says
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log_path.read_text(errors="replace")


def wait_for_invite(log_path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The bootstrap invite the node prints on an empty database, once it answers /healthz."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text(errors="replace")
        found = re.search(r"/i/([A-Za-z0-9_-]+)", log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no invite printed:\n{log_path.read_text(errors='replace')}")


def crawl(http: httpx.Client, start: str) -> set[str]:
    """Fetch ``start`` and everything it references on this origin, transitively; every fetch
    must answer 200. Returns the paths fetched under /static/, and those served at the root as
    the /static/ path of the same file."""
    seen: set[str] = set()
    queue = [start]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        response = http.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        queue.extend(ref for ref in references(path, response.text) if ref not in seen)
    return {AT_ROOT.get(path, path) for path in seen if path.startswith("/static/") or path in AT_ROOT}


def references(path: str, text: str) -> Iterator[str]:
    if path == "/" or path.endswith(".html"):
        found = [match.group(1) for match in _HTML_REF.finditer(text)]
    elif path.endswith(".css"):
        found = [match.group(1) or match.group(2) for match in _CSS_REF.finditer(text)]
    elif path.endswith(".js"):
        found = [match.group(1) or match.group(2) or match.group(3) for match in _JS_REF.finditer(text)]
    elif path.endswith(".webmanifest"):
        found = [icon["src"] for icon in json.loads(text)["icons"]]
    else:
        found = []
    for ref in found:
        url = urlsplit(urljoin(f"http://origin{path}", ref))
        if url.netloc == "origin" and not ref.startswith(("data:", "#")):
            yield url.path

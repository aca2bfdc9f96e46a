"""The service worker's shell (server/webapp.py): which files it precaches, and a version that
changes with any byte of them, which is what makes browsers install a new worker and drop the
old cache."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from server import webapp


def copy_of_web(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    shutil.copytree(webapp.WEB_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_shell_lists_the_page_and_its_files_but_not_the_worker_manifest_icons_or_python(
    tmp_path: Path,
) -> None:
    files = webapp.shell(copy_of_web(tmp_path))["files"]
    assert isinstance(files, list)
    assert files[0] == "/"
    assert {
        "/static/js/app.js",
        "/static/js/offline.js",
        "/static/css/app.css",
        "/static/favicon.svg",
    } <= set(files)
    for absent in (
        "/static/sw.js",
        "/static/manifest.webmanifest",
        "/static/index.html",
        "/static/__init__.py",
    ):
        assert absent not in files
    assert not [name for name in files if name.startswith("/static/icons/")]


def test_any_change_to_the_page_or_the_worker_changes_the_version(tmp_path: Path) -> None:
    root = copy_of_web(tmp_path)
    first = webapp.worker_script(root)
    assert webapp.worker_script(root) == first  # the same bytes, the same worker
    for name in ("js/store.js", "index.html", "sw.js"):
        path = root / name
        path.write_text(path.read_text() + "\n// changed\n")
        changed = webapp.worker_script(root)
        assert changed != first, name
        first = changed
    shell = webapp.worker_script(root).decode()
    start = shell.index("const SHELL = ") + len("const SHELL = ")
    assert json.loads(shell[start : shell.index(";\n", start)])["files"][0] == "/"


def test_the_workers_english_fallback_words_are_the_pages_english_words() -> None:
    # sw.js is a classic script and cannot import the page's modules, so it carries its own copy
    # of the English push.* words for a worker whose page never stored any: kept the same here.
    def words(text: str) -> dict[str, str]:
        return dict(re.findall(r'^\s*"(push\.[^"]+)": "([^"]*)",?$', text, re.MULTILINE))

    worker = (webapp.WEB_ROOT / "sw.js").read_text()
    fallback = worker[
        worker.index("const FALLBACK = {") : worker.index("};", worker.index("const FALLBACK = {"))
    ]
    page = words((webapp.WEB_ROOT / "js" / "locales" / "en.device.js").read_text())
    copied = words(fallback)
    assert len(copied) >= 10
    assert copied == {key: page[key] for key in copied}

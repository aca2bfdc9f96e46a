"""The browser SPA: the static files served at ``/`` and ``/static/``, with no build step.

A package only so that a built wheel carries the page next to the server (see
``[tool.setuptools.package-data]`` in ``pyproject.toml``): ``ROOT`` is where the files are,
whether Tsudoi runs from a clone or from an installed wheel. How the page is built and tested:
``docs/spa.md``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent

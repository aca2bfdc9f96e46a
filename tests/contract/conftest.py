"""Fixtures shared by the Storage contract suites: every adapter, opened as test_storage.py does.

The fixtures are defined in test_storage.py (which uses them directly) and offered here to the
other contract modules, so there is one definition of "every adapter".
"""

from __future__ import annotations

from tests.contract.test_storage import second_storage, storage

__all__ = ["second_storage", "storage"]

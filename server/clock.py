"""The wall clock the services are given (``clock=now_ms``): milliseconds since the epoch.

Its own module so that the operator commands can have it without importing the web application
(``server.app`` and what it brings cost a ``tsudoi admin`` command about 0.3 s at every start).
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)

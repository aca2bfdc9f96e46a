"""The exit statuses of the ``tsudoi`` command, and the exception that carries one to ``main``.

An operator's mistake ends in one line on stderr and one of these statuses, never a traceback:

- ``OK`` (0): done; for ``serve``, stopped by SIGTERM or SIGINT after a clean drain.
- ``PROBLEM`` (1): the command was well formed but what it met stops it: no database in the data
  folder, storage that does not answer, a handle already taken, an unknown id, a port in use, a
  ``doctor`` check that failed, an unexpected error.
- ``USAGE`` (2): the command line or the environment is wrong in itself, whatever the data: an
  unknown flag, a number out of range, a malformed ``TSUDOI_REDIS_URL``. argparse exits 2 for its
  own errors, so configuration mistakes share its status.

An admin command stopped by Ctrl-C exits 130, as shells report a process ended by SIGINT.
"""

from __future__ import annotations

OK = 0
PROBLEM = 1
USAGE = 2


class CommandFailed(Exception):
    """Stop the command: ``main`` prints ``tsudoi: <message>`` on stderr and exits ``status``."""

    def __init__(self, message: str, status: int = PROBLEM) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

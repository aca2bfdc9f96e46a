"""Count the bytecodes each Python function executes while a module runs: a per-function,
repeatable measure where callgrind sees only the interpreter.

Callgrind counts a process's instructions, the same from run to run, but on Python 3.11 it
cannot say which Python function spent them. This runner traces every opcode of every thread
(``sys.settrace`` with ``f_trace_opcodes``) and writes, when the module ends, how many each
function executed, as JSON ``{"file:line(function)": count}``. Tracing makes the program some
fifty times slower and counts start-up too, so a figure is the difference of two runs that
differ only in the work being measured (``python -m loadtest.tools.resume_cost --opcodes``).

    python -m loadtest.tools.opcodes OUT.json -- PYTHON -m MODULE [ARGS...]

(``PYTHON`` is accepted and ignored, so that the runner can stand before an ordinary
``python -m`` command line: the module runs in this process.)
"""

from __future__ import annotations

import collections
import json
import os
import runpy
import sys
import sysconfig
import threading
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

_counts: collections.Counter[CodeType] = collections.Counter()


def _trace(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "call":
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
    elif event == "opcode":
        _counts[frame.f_code] += 1
    return _trace


def _short(filename: str) -> str:
    """A file's name as one reads it: under the installed packages, the standard library or the
    current folder, without that folder."""
    paths = sysconfig.get_paths()
    for folder in (paths["purelib"], paths["platlib"], paths["stdlib"], os.getcwd()):
        if filename.startswith(folder + os.sep):
            return filename[len(folder) + 1 :]
    return filename


def _named(counts: collections.Counter[CodeType]) -> dict[str, int]:
    named: collections.Counter[str] = collections.Counter()
    for code, count in counts.items():
        named[f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"] += count
    return dict(named.most_common())


def difference(more: dict[str, int], fewer: dict[str, int]) -> list[tuple[str, int]]:
    """Per function, what the run with more work executed beyond the other, largest first."""
    found = ((name, count - fewer.get(name, 0)) for name, count in more.items())
    return sorted(((name, count) for name, count in found if count > 0), key=lambda item: -item[1])


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 5 or args[1] != "--" or args[3] != "-m":
        sys.exit("usage: python -m loadtest.tools.opcodes OUT.json -- PYTHON -m MODULE [ARGS...]")
    out, module, rest = Path(args[0]), args[4], args[5:]
    sys.argv = [module, *rest]
    threading.settrace(_trace)
    sys.settrace(_trace)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.settrace(None)
        threading.settrace(None)
        out.write_text(json.dumps(_named(_counts)))


if __name__ == "__main__":
    main()

"""How much of a server's time the cyclic garbage collector takes, for BENCHMARKS.md.

Python imports ``sitecustomize`` at start-up from the path, so putting this folder on
``PYTHONPATH`` loads it into every process the harness starts; it acts only in ``tsudoi serve``
processes. It times every collection (``gc.callbacks``) and rewrites one line every second to
``$TSUDOI_GC_PROBE_OUT`` (default ``gc-probe.txt`` in the working folder): collections and seconds
per generation, the thresholds, and the process's CPU time so far::

    PYTHONPATH=loadtest/tools/gc_probe .venv/bin/tsudoi-loadtest reconnect-storm --followers 10000

(A file rewritten as it goes, because uvicorn ends on SIGTERM without running exit handlers.)
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from typing import Any

if "serve" in sys.argv:
    _spent = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    _began = [0.0]
    _out = os.environ.get("TSUDOI_GC_PROBE_OUT", "gc-probe.txt")

    def _time_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _began[0] = time.perf_counter()
        else:
            entry = _spent[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - _began[0]

    def _report() -> None:
        while True:
            time.sleep(1)
            figures = " ".join(f"gen{g}: {n} in {s:.2f}s" for g, (n, s) in _spent.items())
            line = (
                f"pid {os.getpid()} thresholds {gc.get_threshold()} {figures} cpu {time.process_time():.1f}s"
            )
            with open(_out, "w") as out:
                out.write(line + "\n")

    gc.callbacks.append(_time_collection)
    threading.Thread(target=_report, name="gc-probe", daemon=True).start()

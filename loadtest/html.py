"""The report people look at: PNG plots and one HTML page beside each JSON result.

``python -m loadtest.html RESULT.json`` (re)makes them from any result file. Plots need
matplotlib (``pip install 'tsudoi[loadtest]'``; the test extras include it).
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

import orjson

from .report import server_lines


def _figures(result: dict[str, Any], stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result.get("series") or []
    seconds = [point["t"] for point in series]
    made = []

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(seconds, [p["p50_ms"] for p in series], label="p50")
    ax.plot(seconds, [p["p99_ms"] for p in series], label="p99")
    ax.set(xlabel="second of the run", ylabel="latency from send (ms)", title="Delivery latency over time")
    rate = ax.twinx()
    rate.bar(seconds, [p["posts"] for p in series], alpha=0.2, color="grey", label="posts/s")
    rate.set_ylabel("posts per second")
    ax.legend(loc="upper left")
    fig.tight_layout()
    made.append(stem.with_name(stem.name + "-latency.png"))
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(seconds, [p["delivered"] for p in series], color="tab:green")
    ax.set(
        xlabel="second of the run", ylabel="frames delivered", title="Throughput: frames delivered per second"
    )
    fig.tight_layout()
    made.append(stem.with_name(stem.name + "-throughput.png"))
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)

    handshakes = result["connections"]["handshake_ms"]
    fig, ax = plt.subplots(figsize=(8, 2.5))
    labels = [k for k in ("min", "p50", "p90", "p99", "max") if handshakes.get(k) is not None]
    ax.barh(labels, [handshakes[k] for k in labels], color="tab:purple")
    ax.set(xlabel="ms", title=f"Handshakes: {result['connections']['established']} connections")
    fig.tight_layout()
    made.append(stem.with_name(stem.name + "-connections.png"))
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)
    return made


def _row(name: str, value: Any) -> str:
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"


def write(result: dict[str, Any], json_path: Path) -> Path:
    """Write the plots and the HTML page next to ``json_path``; returns the page's path."""
    stem = json_path.with_suffix("")
    try:
        images = _figures(result, stem)
    except ImportError:
        images = []
    latency, sent, server = result["latency_ms"], result.get("latency_from_send_ms", {}), result["server"]
    rows = [
        _row("scenario", result["scenario"]),
        _row("options", result["options"]),
        _row("machine", result["machine"]),
        _row(
            "connections",
            f"{result['connections']['established']} established, "
            f"{result['connections']['handshakes_per_second'] or 0:.0f} handshakes/s",
        ),
        _row("posts, frames delivered", f"{result['posts']}, {result['delivered']} of {result['expected']}"),
        _row("lost, duplicated", f"{result['lost']}, {result['duplicated']}"),
        _row("latency from ok (ms)", latency),
        _row("latency from send (ms)", sent),
        _row("server CPU per delivered frame (µs)", server.get("cpu_us_per_delivered_frame")),
        _row("server RSS (MiB)", round(server["rss_bytes"] / 2**20)),
    ]
    if result.get("storm"):
        rows.append(_row("storm", result["storm"]))
    for line in server_lines(result):
        name, _, value = line.partition(": ")
        rows.append(_row(name, value))
    pictures = "".join(
        f'<p><img src="{html.escape(image.name)}" alt="{html.escape(image.stem)}"></p>' for image in images
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>Tsudoi load test</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}th{text-align:left;padding-right:1em}</style>"
        f"<h1>Tsudoi load test: {html.escape(result['scenario'])}</h1><table>{''.join(rows)}</table>{pictures}"
        f'<p>Raw result: <a href="{html.escape(json_path.name)}">{html.escape(json_path.name)}</a></p>'
    )
    out = stem.with_suffix(".html")
    out.write_text(page, encoding="utf-8")
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1])
    print(write(orjson.loads(path.read_bytes()), path))

"""The report people look at: PNG plots and one HTML page beside each JSON result.

``python -m loadtest.html RESULT.json`` (re)makes them from any result file. Plots need
matplotlib (``pip install 'tsudoi[loadtest]'``; the test extras include it); without it the page
says they are missing, and why.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from .report import codes, server_counts, server_timings


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


#: Shown, and printed, when the plots could not be drawn.
MISSING_PLOTS = "matplotlib is not installed: pip install 'tsudoi[loadtest]'"

#: What the two delivery latencies measure (see ``report.deliveries``).
LATENCY_DEFINITIONS = (
    "Latency from send runs from the moment the author's client sent the post to the moment each "
    "recipient's client had it; latency from ok, from the moment the author's client had the "
    "server's ok for it."
)

#: Why "from ok" can be negative, said when it is.
NEGATIVE_FROM_OK = (
    "Negative latency from ok means a follower's client had the post before the author's client "
    "had its ok: the server fans a post out before it answers ok."
)


class Report(NamedTuple):
    page: Path
    plots: list[Path]
    #: Why there are no plots, or None.
    missing_plots: str | None


def ms(value: float | None) -> str:
    """Milliseconds to the precision that means something at that size."""
    if value is None:
        return "—"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def rate(value: float | None, what: str = "") -> str:
    """``what`` per second."""
    if value is None:
        return "—"
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return f"{number} {what}/s" if what else f"{number}/s"


def plain(value: Any) -> str:
    """An option's or machine's value: yes/no, a count, a short decimal, or text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _row(name: str, value: str) -> str:
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"


def _table(head: list[str], rows: list[list[str]], caption: str = "") -> str:
    cells = "".join(f"<th>{html.escape(cell)}</th>" for cell in head)
    body = "".join(
        "<tr>"
        + f"<th>{html.escape(row[0])}</th>"
        + "".join(f"<td class=n>{html.escape(cell)}</td>" for cell in row[1:])
        + "</tr>"
        for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table class=figures>{title}<tr>{cells}</tr>{body}</table>"


#: The quake's separately checked deliveries: key in the result, and what to call it.
PARTS = (
    ("statuses", "safety statuses"),
    ("announcements", "announcements"),
    ("statuses_outside_storm", "safety statuses sent outside the storm"),
    ("announcements_outside_storm", "announcements sent outside the storm"),
    ("posts_outside_storm", "posts sent outside the storm"),
)

POINTS = ("min", "p50", "p90", "p99", "max")


def _storm(result: dict[str, Any]) -> str:
    storm = result["storm"]
    text = (
        f"{count(storm['resumed'])} of {count(result['connections']['established'])} resumed "
        f"with nothing missed in {storm['seconds']:.1f} s; failed {codes(storm.get('failed'))}"
    )
    if storm.get("server_cpu_seconds") is not None:
        text += f"; server CPU {storm['server_cpu_seconds']:.2f} s"
        if storm.get("server_cpu_ms_per_resume") is not None:
            text += f" ({ms(storm['server_cpu_ms_per_resume'])} ms per resume)"
    if storm.get("generator_busiest") is not None:
        text += (
            f"; generator CPU {storm['generator_cpu_seconds']:.2f} s, its busiest process "
            f"{storm['generator_busiest']:.0%} of the storm"
        )
    if storm.get("window"):
        began, ended = storm["window"]
        text += f"; from {began:.1f} s to {ended:.1f} s into the run"
    return text


def _summary_rows(result: dict[str, Any]) -> list[str]:
    connections, server = result["connections"], result["server"]
    machine = result["machine"]
    memory = machine.get("memory_bytes")
    rows = [
        _row("scenario", result["scenario"]),
        _row(
            "options",
            ", ".join(f"{name.replace('_', ' ')} {plain(v)}" for name, v in result["options"].items()),
        ),
        _row(
            "machine",
            f"{plain(machine.get('cores'))} cores, "
            + (f"{memory / 2**30:.1f} GiB memory, " if memory else "")
            + f"Python {machine.get('python')}, {machine.get('system')}",
        ),
        _row(
            "connections",
            f"{count(connections['established'])} established in "
            f"{connections.get('connect_seconds') or 0:.1f} s "
            f"({rate(connections.get('handshakes_per_second'), 'handshakes')}), "
            f"failed {codes(connections.get('failed'))}",
        ),
        _row("posts acknowledged", count(result["posts"])),
        _row(
            "frames delivered",
            f"{count(result['delivered'])} of {count(result['expected'])} expected, "
            f"{rate(result.get('delivered_per_second'))} over {result['seconds']:.1f} s",
        ),
        _row(
            "lost, duplicated, unexpected",
            f"{count(result['lost'])}, {count(result['duplicated'])}, {count(result.get('unexpected'))}",
        ),
        _row("errors, closes", f"{codes(result.get('errors'))}; {codes(result.get('closes'))}"),
    ]
    cpu = server.get("cpu_us_per_delivered_frame")
    rows.append(
        _row(
            "server CPU",
            f"{server['cpu_seconds']:.2f} s"
            + (f", {cpu:,.1f} µs per delivered frame" if cpu is not None else "")
            + ("" if server.get("pinned") else " (not pinned to a core of its own)"),
        )
    )
    rows.append(_row("server RSS", f"{server['rss_bytes'] / 2**20:,.0f} MiB"))
    if result.get("storm"):
        rows.append(_row("reconnect storm", _storm(result)))
    rows.extend(_row(name, text) for name, text in server_counts(result))
    return rows


def _latency(result: dict[str, Any]) -> tuple[str, bool]:
    """The clients' latency table, and whether any "from ok" figure in it is negative."""
    lines = [("handshake", result["connections"]["handshake_ms"])]
    lines.append(("delivery, from ok", result["latency_ms"]))
    lines.append(("delivery, from send", result.get("latency_from_send_ms") or {}))
    negative = any((result["latency_ms"].get(point) or 0) < 0 for point in POINTS)
    for key, name in PARTS:
        if result.get(key):
            lines.append((f"{name}, from send", result[key]["latency_from_send_ms"]))
            if result[key].get("latency_from_available_ms"):
                lines.append(
                    (f"{name}, from send or the recipient's return", result[key]["latency_from_available_ms"])
                )
    rows = [[what, *(ms(figures.get(point)) for point in POINTS)] for what, figures in lines]
    table = _table(["latency (ms)", *POINTS], rows, "Clients' latency, nearest-rank percentiles")
    return table, negative


def _parts(result: dict[str, Any]) -> str:
    rows = [
        [
            name,
            count(part["delivered"]),
            count(part["expected"]),
            count(part["lost"]),
            count(part["duplicated"]),
        ]
        for key, name in PARTS
        if (part := result.get(key))
    ]
    if not rows:
        return ""
    head = ["checked separately", "delivered", "expected", "lost", "duplicated"]
    return _table(head, rows)


def _timing_name(what: str) -> str:
    """``server fan-out latency ms`` → ``fan-out latency``; an indented line is a part of the one
    before it."""
    name = what.strip().removeprefix("server ").removesuffix(" ms")
    return f"… {name}" if what.startswith(" ") else name


def _server_timings(result: dict[str, Any]) -> str:
    rows = [
        [
            _timing_name(what),
            count(latency["count"]),
            *(ms(latency[k]) for k in ("p50", "p90", "p99", "mean")),
        ]
        for what, latency in server_timings(result)
    ]
    if not rows:
        return ""
    head = ["server (ms)", "samples", "p50", "p90", "p99", "mean"]
    return _table(head, rows, "The server's own histograms (/metrics), quantiles estimated from buckets")


def render(result: dict[str, Any], json_name: str, plots: list[str], missing_plots: str | None) -> str:
    """The HTML page for ``result``: every figure formatted for reading, none as Python data."""
    latency, negative = _latency(result)
    notes = [LATENCY_DEFINITIONS, *([NEGATIVE_FROM_OK] if negative else [])]
    pictures = "".join(
        f'<p><img src="{html.escape(name)}" alt="{html.escape(Path(name).stem)}"></p>' for name in plots
    )
    if missing_plots:
        pictures = f"<p class=notice>No plots: {html.escape(missing_plots)}</p>"
    return (
        "<!doctype html><meta charset=utf-8><title>Tsudoi load test</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}"
        "th{text-align:left;padding-right:1em;vertical-align:top}"
        "table.figures{border-collapse:collapse;margin:1em 0}"
        "table.figures td,table.figures th{border-bottom:1px solid #ddd;padding:.2em .6em}"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:bold}"
        ".notice{background:#fff3cd;padding:.5em}</style>"
        f"<h1>Tsudoi load test: {html.escape(result['scenario'])}</h1>"
        f"<table>{''.join(_summary_rows(result))}</table>"
        f"{latency}{''.join(f'<p>{html.escape(note)}</p>' for note in notes)}"
        f"{_parts(result)}{_server_timings(result)}{pictures}"
        f'<p>Raw result: <a href="{html.escape(json_name)}">{html.escape(json_name)}</a></p>'
    )


def write(result: dict[str, Any], json_path: Path) -> Report:
    """Write the plots and the HTML page next to ``json_path``. Without matplotlib there are no
    plots, and the page and ``Report.missing_plots`` say why."""
    stem = json_path.with_suffix("")
    missing = None
    try:
        plots = _figures(result, stem)
    except ImportError:
        plots, missing = [], MISSING_PLOTS
    page = stem.with_suffix(".html")
    page.write_text(render(result, json_path.name, [p.name for p in plots], missing), encoding="utf-8")
    return Report(page, plots, missing)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    report = write(orjson.loads(path.read_bytes()), path)
    print(
        report.page if report.missing_plots is None else f"{report.page} (no plots: {report.missing_plots})"
    )

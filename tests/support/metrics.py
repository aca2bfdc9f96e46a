"""Reading a test server's ``GET /metrics``, parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ServerProcess


class Scrape:
    """One scrape, parsed with prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float | None:
        """The value of the sample with that name and (at least) those labels, if any."""
        for family in self.families.values():
            for found in family.samples:
                if found.name == sample and labels.items() <= found.labels.items():
                    return float(found.value)
        return None


async def scrape(server: ServerProcess) -> Scrape:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get("/metrics")  # no credentials: operators' scrapers have none
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def scrape_when(server: ServerProcess, ready: Callable[[Scrape], bool], timeout: float = 5) -> Scrape:
    """Scrape until ``ready`` holds: connections end on the server shortly after the client sees
    the close, so a figure may lag a moment behind the client's view."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await scrape(server)
        if ready(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)

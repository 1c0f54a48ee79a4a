"""What the server's handlers share: settings, counters and the log of answered requests."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server answered, for timing diagrams (times are absolute time.perf_counter())."""

    label: str  # e.g. "GET /items?page=2"
    start: float  # when the request reached the server
    end: float  # when the server finished it (for /stream and /ws: when the stream ended)
    status: int  # the HTTP status (101 for a WebSocket, 429 when over max_concurrency)
    path: str  # e.g. "/items"

    @property
    def duration(self) -> float:
        return self.end - self.start


class ServerState:
    """What the handlers share: settings, counters and the request log. Lives on the app."""

    def __init__(
        self, *, items: list[dict[str, Any]], latency: float, max_concurrency: int | None, log_size: int = 10_000
    ) -> None:
        self.items = items
        self.latency = latency
        self.max_concurrency = max_concurrency
        # bounded: a long session can't grow it forever
        self.request_log: deque[RequestRecord] = deque(maxlen=log_size)
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        self.open_websockets: set[web.WebSocketResponse] = set()  # closed politely when the server stops

    def stats(self) -> dict[str, int]:
        """in_flight: being handled now; max_in_flight: the most at once; served: answered, any status."""
        return {"in_flight": self.in_flight, "max_in_flight": self.max_in_flight, "served": self.served}

    def reset_stats(self) -> None:
        # in_flight counts requests running right now, so it is left alone (it is 0 when the server is idle)
        self.max_in_flight = self.in_flight
        self.served = 0


STATE = web.AppKey("state", ServerState)

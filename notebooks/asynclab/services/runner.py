"""Services: one aiohttp server and one SQLite database, started on (and tied to) one event loop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from aiohttp import web

from ..paths import DATA_DIR
from .database import TemporaryDatabase
from .http_api import make_app
from .params import MAX_DELAY
from .state import STATE, RequestRecord, ServerState

HOST = "127.0.0.1"  # local only: nothing outside this machine can reach the examples' server
SHUTDOWN_GRACE = 1.0  # seconds stop() lets unfinished requests finish before cancelling them
STOP_ELSEWHERE_TIMEOUT = 10.0  # seconds to wait for a stop that runs on another thread's loop


def check_options(latency: object, max_concurrency: object) -> None:
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not 0 <= latency <= MAX_DELAY:
        raise ValueError(f"latency must be a number of seconds from 0 to {MAX_DELAY:g}, got {latency!r}")
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
    ):
        raise ValueError(f"max_concurrency must be None or a whole number >= 1, got {max_concurrency!r}")


def listening_socket() -> socket.socket:
    """A socket on a free port (port 0: the OS picks one), so a new server never hits "address in use".

    Made here rather than by aiohttp so the server can always close it, even after its loop is gone.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def running_loop_in_this_thread() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Services:
    """The running local services. Made by `await asynclab.start_services()`; see the package docs."""

    def __init__(self, *, latency: float, max_concurrency: int | None) -> None:
        self.data_dir = DATA_DIR
        self.base_url: str | None = None  # e.g. "http://127.0.0.1:41234", set once started
        self.db_path: Path | None = None  # pathlib.Path of the SQLite file, set once started
        self._options: dict[str, Any] = {"latency": latency, "max_concurrency": max_concurrency}
        self._loop: asyncio.AbstractEventLoop | None = None
        # counters and request log shared with the handlers
        self._state: ServerState | None = None
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self._database: TemporaryDatabase | None = None
        self._status = "new"  # -> "starting" -> "running" -> "stopping" -> "stopped"
        self._stopping: asyncio.Task[None] | None = None  # the task doing the stop, shared by everyone who asks to stop

    # --- what the notebooks use ------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """The answered requests, oldest first: a list of RequestRecord(label, start, end, status, path).

        A fresh list on every access (the last 10,000 requests at most); clear it with clear_requests().
        """
        return list(self._state.request_log) if self._state else []

    def clear_requests(self) -> None:
        if self._state:
            self._state.request_log.clear()

    def stats(self) -> dict[str, int]:
        """{"in_flight": ..., "max_in_flight": ..., "served": ...}, the same as GET /stats."""
        return self._state.stats() if self._state else {"in_flight": 0, "max_in_flight": 0, "served": 0}

    def reset_stats(self) -> None:
        """Start counting max_in_flight and served from zero again, like POST /stats/reset."""
        if self._state:
            self._state.reset_stats()

    @property
    def latency(self) -> float:
        """Seconds every request waits unless it asks for another `delay`. Can be changed while running."""
        return self._options["latency"]

    @latency.setter
    def latency(self, value: float) -> None:
        self.set_options(latency=value, max_concurrency=self.max_concurrency)

    @property
    def max_concurrency(self) -> int | None:
        """Above this many requests in flight the server answers 429 (None: no limit). Can be changed."""
        return self._options["max_concurrency"]

    @max_concurrency.setter
    def max_concurrency(self, value: int | None) -> None:
        self.set_options(latency=self.latency, max_concurrency=value)

    def set_options(self, *, latency: float, max_concurrency: int | None) -> None:
        check_options(latency, max_concurrency)
        self._options = {"latency": latency, "max_concurrency": max_concurrency}
        if self._state:
            self._state.latency, self._state.max_concurrency = latency, max_concurrency

    @property
    def running(self) -> bool:
        return self._status == "running" and self._loop is not None and not self._loop.is_closed()

    def is_running_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self.running and self._loop is loop

    def __repr__(self) -> str:
        where = self.base_url or "not started"
        return f"<Services {where} {self._status}, {len(self.requests)} requests logged>"

    # --- starting --------------------------------------------------------------------------------

    async def start(self) -> Services:
        if self._status != "new":
            raise RuntimeError("a Services object starts once; call asynclab.start_services() for a new one")
        self._loop = asyncio.get_running_loop()
        self._status = "starting"
        try:
            # Filling the database takes a few milliseconds of blocking work: keep it off the loop.
            self._database = database = await asyncio.to_thread(TemporaryDatabase, self.data_dir / "users.csv")
            self.db_path = database.path
            app = make_app(items_file=self.data_dir / "items.json", **self._options)
            self._state = app[STATE]
            # No access log (svc.requests is the log) and no signal handlers (the kernel owns those).
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
            await self._runner.setup()
            self._socket = sock = listening_socket()
            await web.SockSite(self._runner, sock, backlog=1024).start()
        except BaseException:
            await self._shutdown()
            raise
        host, port = sock.getsockname()
        self.base_url = f"http://{host}:{port}"
        self._status = "running"
        return self

    # --- stopping --------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the server and delete the database. Calling it again (or concurrently) is harmless."""
        if self._status in ("new", "stopped"):
            return
        if asyncio.get_running_loop() is not self._loop:
            # Started on another event loop (an earlier asyncio.run(), say): stop it there, off this loop.
            await asyncio.to_thread(self.stop_blocking)
            return
        if self._stopping is None:
            self._stopping = self._loop.create_task(self._shutdown())
        await asyncio.shield(self._stopping)  # a cancelled caller doesn't cut the stop short

    def stop_blocking(self) -> None:
        """stop() for code without a running loop in this thread (atexit, or a worker thread)."""
        loop = self._loop
        if self._status in ("new", "stopped"):
            return
        if loop is None or loop.is_closed():
            self._release()  # nothing can run on a closed loop: just close what we own
        elif loop.is_running():
            if loop is running_loop_in_this_thread():  # waiting here would block the very loop we need
                raise RuntimeError("the services' loop is running here: use `await svc.stop()`")
            # Another thread's loop: ask it to stop the services itself.
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(STOP_ELSEWHERE_TIMEOUT)
        else:
            loop.run_until_complete(self.stop())

    async def _shutdown(self) -> None:
        self._status = "stopping"
        try:
            if self._runner is not None:
                await self._runner.cleanup()  # stops listening, ends connections, closes websockets
        finally:
            self._release()

    def _release(self) -> None:
        """Close the listening socket and delete the database; safe to repeat."""
        if self._socket is not None:
            self._socket.close()
        if self._database is not None:
            self._database.remove()
        self._status = "stopped"

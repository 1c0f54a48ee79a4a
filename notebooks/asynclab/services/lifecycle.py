"""One set of services per process: start_services() reuses or replaces it; connect() finds its database."""

from __future__ import annotations

import asyncio
import atexit
import weakref
from collections.abc import Generator
from pathlib import Path
from typing import Any

import aiosqlite

from ..paths import DATA_DIR
from .database import TemporaryDatabase
from .runner import Services, check_options

DEFAULT_LATENCY = 0.1  # seconds: long enough to show up in timing diagrams, short enough not to bore

_current: Services | None = None  # the Services most recently started, whatever its state
_standalone_database: TemporaryDatabase | None = None  # made by connect() when no services are running
# event loop -> asyncio.Lock, so concurrent starts make one server
_start_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def start_services(*, latency: float = DEFAULT_LATENCY, max_concurrency: int | None = None) -> ServicesStarter:
    """Start the local HTTP server and database on the running loop, or reuse the ones already running.

        svc = await start_services()              # runs until svc.stop() (or the kernel exits)
        async with start_services() as svc: ...   # stops when the block ends

    Calling it again on the same loop returns the running services, with this call's options applied.
    Services left on another loop (an earlier asyncio.run()) or already stopped are replaced.
    """
    check_options(latency, max_concurrency)  # fail at the call, before anything is awaited
    return ServicesStarter(latency=latency, max_concurrency=max_concurrency)


class ServicesStarter:
    """What start_services() returns: something to await, or to use with `async with`."""

    def __init__(self, *, latency: float, max_concurrency: int | None) -> None:
        self._options: dict[str, Any] = {"latency": latency, "max_concurrency": max_concurrency}
        self._services: Services | None = None

    def __await__(self) -> Generator[Any, None, Services]:
        return _running_services(**self._options).__await__()

    async def __aenter__(self) -> Services:
        self._services = services = await _running_services(**self._options)
        return services

    async def __aexit__(self, *exc_info: object) -> None:
        if self._services is not None:  # __aenter__ set it
            await self._services.stop()

    def __repr__(self) -> str:
        return "<start_services(): use `await` or `async with` on it to get the running services>"

    def __getattr__(self, name: str) -> Any:
        # Reached only for names a starter lacks, like svc.base_url after a forgotten `await`.
        raise AttributeError(
            f"start_services() returns something to await: write "
            f"`svc = await asynclab.start_services()`, then use svc.{name}"
        )


async def _running_services(*, latency: float, max_concurrency: int | None) -> Services:
    global _current
    loop = asyncio.get_running_loop()
    async with _start_locks.setdefault(loop, asyncio.Lock()):
        if _current is not None and _current.is_running_on(loop):
            _current.set_options(latency=latency, max_concurrency=max_concurrency)
            return _current
        if _current is not None:
            await _current.stop()  # never two servers: the old one goes first
        _current = services = Services(latency=latency, max_concurrency=max_concurrency)
        return await services.start()


def connect() -> aiosqlite.Connection:
    """An aiosqlite connection to the examples' database: `async with asynclab.connect() as db:`.

    With services running, that is their database (svc.db_path). Without them, it is a database of
    its own, made on first use the same way (same tables, same rows), kept until the process ends and
    shared by later connect() calls. Rows come back as plain tuples, aiosqlite's default; set
    `db.row_factory = sqlite3.Row` inside the block to read columns by name.
    """
    return aiosqlite.connect(database_path())


def running_services() -> Services | None:
    """The services running in this process (on any loop), or None."""
    if _current is not None and _current.running:
        return _current
    return None


def database_path() -> Path:
    """The file connect() opens."""
    global _standalone_database
    if _current is not None and _current.running and _current.db_path is not None:
        return _current.db_path
    if _standalone_database is None or _standalone_database.removed:
        _standalone_database = TemporaryDatabase(DATA_DIR / "users.csv")
    return _standalone_database.path


@atexit.register
def _stop_at_exit() -> None:
    # A kernel shutting down leaves its loop stopped but open: running the stop on it ends every
    # connection properly, so no "unclosed transport" or "Task was destroyed" warning is printed.
    if _current is not None:
        _current.stop_blocking()
    if _standalone_database is not None:
        _standalone_database.remove()

"""One set of services per process: start_services() reuses or replaces it; connect() finds its database."""

import asyncio
import atexit
import weakref

import aiosqlite

from ..paths import DATA_DIR
from .database import TemporaryDatabase
from .runner import Services, check_options

DEFAULT_LATENCY = 0.1  # seconds: long enough to show up in timing diagrams, short enough not to bore

_current = None  # the Services most recently started, whatever its state
_standalone_database = None  # made by connect() when no services are running
_start_locks = weakref.WeakKeyDictionary()  # event loop -> asyncio.Lock, so concurrent starts make one server


def start_services(*, latency=DEFAULT_LATENCY, max_concurrency=None):
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

    def __init__(self, **options):
        self._options = options
        self._services = None

    def __await__(self):
        return _running_services(**self._options).__await__()

    async def __aenter__(self):
        self._services = await _running_services(**self._options)
        return self._services

    async def __aexit__(self, *exc_info):
        await self._services.stop()

    def __repr__(self):
        return "<start_services(): use `await` or `async with` on it to get the running services>"

    def __getattr__(self, name):
        # Reached only for names a starter lacks, like svc.base_url after a forgotten `await`.
        raise AttributeError(
            f"start_services() returns something to await: write "
            f"`svc = await asynclab.start_services()`, then use svc.{name}"
        )


async def _running_services(*, latency, max_concurrency):
    global _current
    loop = asyncio.get_running_loop()
    async with _start_locks.setdefault(loop, asyncio.Lock()):
        if _current is not None and _current.is_running_on(loop):
            _current.set_options(latency=latency, max_concurrency=max_concurrency)
            return _current
        if _current is not None:
            await _current.stop()  # never two servers: the old one goes first
        _current = Services(latency=latency, max_concurrency=max_concurrency)
        return await _current.start()


def connect():
    """An aiosqlite connection to the examples' database: `async with asynclab.connect() as db:`.

    With services running, that is their database (svc.db_path). Without them, it is a database of
    its own, made on first use the same way (same tables, same rows), kept until the process ends and
    shared by later connect() calls. Rows come back as plain tuples, aiosqlite's default; set
    `db.row_factory = sqlite3.Row` inside the block to read columns by name.
    """
    return aiosqlite.connect(database_path())


def running_services():
    """The services running in this process (on any loop), or None."""
    if _current is not None and _current.running:
        return _current
    return None


def database_path():
    """The file connect() opens."""
    global _standalone_database
    if _current is not None and _current.running:
        return _current.db_path
    if _standalone_database is None or _standalone_database.removed:
        _standalone_database = TemporaryDatabase(DATA_DIR / "users.csv")
    return _standalone_database.path


@atexit.register
def _stop_at_exit():
    # A kernel shutting down leaves its loop stopped but open: running the stop on it ends every
    # connection properly, so no "unclosed transport" or "Task was destroyed" warning is printed.
    if _current is not None:
        _current.stop_blocking()
    if _standalone_database is not None:
        _standalone_database.remove()

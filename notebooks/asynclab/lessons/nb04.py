"""Helpers for notebook 04 (the resource pool): plumbing the lesson cells use but need not show.

- ``break_connection(conn)``: break an aiosqlite connection on purpose, as a dropped server
  connection would be broken: every query on it fails, yet it still has to be closed.
- ``still_open(connections)``: the names of the aiosqlite connections not closed yet.
- ``close_all(connections)``: close whichever of them are still open (clean-up after a leak).
- ``server_idle(svc)``: wait until the local server has no request in flight.
- ``held_response(stream)``: the HTTP response a paused streaming generator still holds open.
"""

from __future__ import annotations

import asyncio
import sqlite3
import types
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiosqlite

    from ..services import Services

__all__ = ["break_connection", "close_all", "held_response", "is_closed", "server_idle", "still_open"]


# Breaking a connection underneath aiosqlite needs two of its private names: ``_conn``, the sqlite3
# connection, and ``_execute``, which runs a call on the connection's own thread (sqlite3 objects may
# be used only there). Nothing public reaches either. Both have stayed the same from aiosqlite 0.19
# to 0.22, so pyproject.toml and requirements.in bound aiosqlite below 0.23: `make lock` keeps the
# pin under the bound (test_lock checks it), and a new release is tried here before learners get it.
# If an aiosqlite without them is installed anyway, break_connection() says so plainly (a feature
# test), instead of an AttributeError from deep inside a lesson cell.
_PRIVATE_NAMES = ("_conn", "_execute")


def _aiosqlite_version() -> str:
    try:
        return version("aiosqlite")
    except PackageNotFoundError:
        return "unknown"


async def break_connection(conn: aiosqlite.Connection) -> None:
    """Close the SQLite connection *underneath* the aiosqlite connection ``conn``.

    Afterwards every query on ``conn`` raises ``sqlite3.ProgrammingError: Cannot operate on a
    closed database.``, the way queries on a database connection fail once the server has
    dropped it. ``conn`` itself is not closed: its worker thread still runs until someone calls
    ``await conn.close()``.
    """
    missing = [name for name in _PRIVATE_NAMES if not hasattr(type(conn), name)]
    if missing:
        raise RuntimeError(
            f"break_connection() needs aiosqlite's Connection.{' and .'.join(missing)}, which this "
            f"aiosqlite ({_aiosqlite_version()}) lacks: the lessons run on aiosqlite 0.19 to 0.22."
        )
    sqlite_connection = conn._conn  # aiosqlite's sqlite3.Connection (raises if already closed)
    # sqlite3 objects may only be used on the thread that made them: close it on that thread.
    await conn._execute(sqlite_connection.close)


def is_closed(conn: aiosqlite.Connection) -> bool:
    """True once ``await conn.close()`` has run on this aiosqlite connection (or before it opened)."""
    try:
        conn.in_transaction  # noqa: B018 -- a public property that reads the sqlite3 connection
    except ValueError:  # aiosqlite's "no active connection"
        return True
    except sqlite3.ProgrammingError:  # closed underneath it (break_connection): still open, holding its thread
        return False
    return False


def still_open(connections: Iterable[aiosqlite.Connection]) -> list[str]:
    """Names (``conn.name``, else repr) of the aiosqlite connections that were never closed.

    A broken connection (see ``break_connection``) counts as open: it still holds its thread.
    """
    return [getattr(conn, "name", repr(conn)) for conn in connections if not is_closed(conn)]


async def close_all(connections: list[aiosqlite.Connection]) -> list[str]:
    """Close every connection in ``connections`` that is still open; returns their names."""
    names = still_open(connections)
    for conn in connections:
        if not is_closed(conn):
            await conn.close()
    return names


async def server_idle(svc: Services, timeout: float = 1.0) -> int:
    """Wait until the server has no request in flight (at most ``timeout`` s); return the count.

    A server notices that a client hung up only when it next writes to the connection, so the
    count drops a moment after the client closed its response.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while svc.stats()["in_flight"] and loop.time() < deadline:  # noqa: ASYNC110 -- a counter, no event
        await asyncio.sleep(0.01)
    return svc.stats()["in_flight"]


def held_response(stream: types.AsyncGeneratorType[Any, Any]) -> Any:
    """The ``response`` that a paused async generator (``stream_lines``) holds open.

    Reads the generator's local variables while it waits at its ``yield``: what the lesson shows is
    that the response is still open, not how to look inside a generator.
    """
    frame = stream.ag_frame
    if frame is None:  # the generator has finished: it holds nothing any more
        return None
    return frame.f_locals.get("response")

"""Helpers for notebook 04 (the resource pool): plumbing the lesson cells use but need not show.

- ``break_connection(conn)``: break an aiosqlite connection on purpose, as a dropped server
  connection would be broken: every query on it fails, yet it still has to be closed.
- ``still_open(connections)``: the names of the aiosqlite connections not closed yet.
- ``close_all(connections)``: close whichever of them are still open (clean-up after a leak).
- ``server_idle(svc)``: wait until the local server has no request in flight.
- ``held_response(stream)``: the HTTP response a paused streaming generator still holds open.
"""

import asyncio

__all__ = ["break_connection", "close_all", "held_response", "is_closed", "server_idle", "still_open"]


async def break_connection(conn):
    """Close the SQLite connection *underneath* the aiosqlite connection ``conn``.

    Afterwards every query on ``conn`` raises ``sqlite3.ProgrammingError: Cannot operate on a
    closed database.``, the way queries on a database connection fail once the server has
    dropped it. ``conn`` itself is not closed: its worker thread still runs until someone calls
    ``await conn.close()``.
    """
    sqlite_connection = conn._conn  # aiosqlite's sqlite3.Connection (raises if already closed)
    # sqlite3 objects may only be used on the thread that made them: close it on that thread.
    await conn._execute(sqlite_connection.close)


def is_closed(conn):
    """True once ``await conn.close()`` has run on this aiosqlite connection."""
    return conn._connection is None


def still_open(connections):
    """Names (``conn.name``, else repr) of the aiosqlite connections that were never closed.

    A broken connection (see ``break_connection``) counts as open: it still holds its thread.
    """
    return [getattr(conn, "name", repr(conn)) for conn in connections if not is_closed(conn)]


async def close_all(connections):
    """Close every connection in ``connections`` that is still open; returns their names."""
    names = still_open(connections)
    for conn in connections:
        if not is_closed(conn):
            await conn.close()
    return names


async def server_idle(svc, timeout=1.0):
    """Wait until the server has no request in flight (at most ``timeout`` s); return the count.

    A server notices that a client hung up only when it next writes to the connection, so the
    count drops a moment after the client closed its response.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while svc.stats()["in_flight"] and loop.time() < deadline:  # noqa: ASYNC110 -- a counter, no event
        await asyncio.sleep(0.01)
    return svc.stats()["in_flight"]


def held_response(stream):
    """The ``response`` that a paused async generator (``stream_lines``) holds open.

    Reads the generator's local variables while it waits at its ``yield``: what the lesson shows is
    that the response is still open, not how to look inside a generator.
    """
    frame = stream.ag_frame
    if frame is None:  # the generator has finished: it holds nothing any more
        return None
    return frame.f_locals.get("response")

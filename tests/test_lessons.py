"""The lessons' helpers that reach into a library: asynclab.lessons.nb04 and aiosqlite."""

import asyncio
import sqlite3

import aiosqlite
import pytest
from asynclab.lessons.nb04 import break_connection, close_all, is_closed, still_open


def test_a_broken_connection_fails_every_query_yet_stays_open_until_closed():
    assert is_closed(aiosqlite.connect(":memory:"))  # not opened yet

    async def main():
        conn = await aiosqlite.connect(":memory:")
        conn.name = "pool-1"
        assert not is_closed(conn) and still_open([conn]) == ["pool-1"]
        await break_connection(conn)
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            await conn.execute("SELECT 1")
        assert not is_closed(conn)  # its thread still runs
        assert await close_all([conn]) == ["pool-1"]
        assert is_closed(conn) and still_open([conn]) == []

    asyncio.run(main())


def test_without_aiosqlite_s_private_names_break_connection_says_what_is_missing():
    class NotQuiteAiosqlite:  # an aiosqlite that renamed its internals
        pass

    with pytest.raises(RuntimeError, match=r"Connection\._conn and \._execute, which this aiosqlite \(.*\) lacks"):
        asyncio.run(break_connection(NotQuiteAiosqlite()))
    with pytest.raises(RuntimeError, match=r"Connection\._execute,"):
        asyncio.run(break_connection(type("Half", (), {"_conn": None})()))

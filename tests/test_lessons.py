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


def test_statements_run_records_each_statement_with_its_error_and_gives_execute_back():
    from asynclab.lessons.nb03 import statements_run

    async def main():
        async with aiosqlite.connect(":memory:", isolation_level=None) as db:
            await db.execute("CREATE TABLE t (n INTEGER CHECK (n >= 0))")
            with statements_run(db) as statements:
                await db.execute("INSERT INTO t VALUES (?)", (3,))
                with pytest.raises(sqlite3.IntegrityError):
                    await db.execute("INSERT INTO t VALUES (?)", (-1,))
            assert "execute" not in vars(db)  # the class's method again
            async with db.execute("SELECT n FROM t") as cursor:  # usable as a manager again
                assert await cursor.fetchall() == [(3,)]
            return statements

    statements = asyncio.run(main())
    assert [s["label"] for s in statements] == ["INSERT INTO t VALUES (3)", "IntegrityError: INSERT INTO t VALUES (-1)"]
    assert all(s["start"] <= s["end"] for s in statements)


def test_traced_draws_enter_body_and_exit_on_the_managers_lane_and_passes_errors_on():
    from asynclab import Timeline
    from asynclab.lessons.nb03 import traced

    class Manager:
        async def __aenter__(self):
            await asyncio.sleep(0.01)
            return "value"

        async def __aexit__(self, *exc_info):
            await asyncio.sleep(0.01)

    async def main():
        async with Timeline(show=False) as tl:
            with pytest.raises(KeyError):
                async with traced("m", Manager()) as value:
                    assert value == "value"
                    raise KeyError("body")
        return tl

    tl = asyncio.run(main())
    drawn = sorted((s for s in tl.spans if s.lane == "m"), key=lambda s: s.start)
    assert [(s.kind, s.label) for s in drawn] == [("setup", "enter"), ("phase", "body"), ("cleanup", "exit")]

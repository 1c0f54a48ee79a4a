"""Helpers for notebook 03 (async with): plumbing that would clutter the lesson's cells.

- ``loop_reports()``: an async context manager that collects what the event loop and the
  ``warnings`` module report while its block runs (such as aiohttp's "Unclosed client session"),
  instead of letting it reach stderr.
- ``connection_counter()``: an ``aiohttp.TraceConfig`` that counts the TCP connections a session
  opens, to compare one shared session with a session per request.
- ``statements_run(db)``: the SQL statements an aiosqlite connection ran while a block ran, with
  their times and errors, for a diagram's ``database`` lane (``tl.add_spans``).
- ``traced(label, manager)``: ``async with`` spelled out, with each step of ``manager`` drawn on a
  lane of its own: for managers whose phases the timeline cannot name (a library's).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import types
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import aiohttp
import aiosqlite

from ..timeline import span

__all__ = ["connection_counter", "loop_reports", "statements_run", "traced"]

T = TypeVar("T")

_COLLECT_ROUNDS = 3  # one freed object can free the next (session, then its connector)


@contextlib.asynccontextmanager
async def loop_reports() -> AsyncIterator[list[str]]:
    """``async with loop_reports() as reports:`` collects the reports made during the block.

    An object that is garbage-collected while still open (an aiohttp session, a connector, a
    socket) reports it in two ways: through the event loop's exception handler, which asyncio
    logs to stderr, and as a ResourceWarning, which Python hides by default. While the block runs,
    this installs an exception handler on the loop and records warnings; on the way out it
    collects garbage (so the reports come now, not at some random later moment), turns each
    report into a line of text in ``reports``, and puts the previous handler back.

    When the block is stopped (the stop button's cancellation), the traceback reaches down into
    every function the block was running, and through their frames holds what they had not
    closed yet (a session): the notebook keeps that traceback until the next error, and only then
    would the session be reported, on stderr. So the traceback of a stop is cut at the block's own
    line before the garbage is collected, and the session is reported here.
    """
    loop = asyncio.get_running_loop()
    reports: list[str] = []

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        reports.append(f"loop exception handler: {context.get('message')}")

    previous = loop.get_exception_handler()
    loop.set_exception_handler(record)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield reports
            except (asyncio.CancelledError, KeyboardInterrupt) as exc:
                _cut_below_the_block(exc)
                raise
            finally:
                for _ in range(_COLLECT_ROUNDS):
                    gc.collect()
                    await asyncio.sleep(0)  # transports close in a callback of the next loop turn
                    # A warning keeps the object it is about (its `source`) alive: keep only text.
                    reports.extend(f"{w.category.__name__}: {_shorten(w.message)}" for w in caught)
                    caught.clear()
    finally:
        loop.set_exception_handler(previous)


def _cut_below_the_block(exc: BaseException) -> None:
    """End ``exc``'s traceback at the first frame outside this module and contextlib: the code
    that runs the ``async with loop_reports()`` block, at the line the block had reached."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, contextlib.__file__):
        tb = tb.tb_next
    if tb is not None:
        tb.tb_next = None


def _shorten(message: Warning | str, limit: int = 70) -> str:
    text = str(message).split(" <", 1)[0]  # drop the "<aiohttp... object at 0x...>" part
    return text if len(text) <= limit else text[: limit - 1] + "…"


def connection_counter() -> tuple[aiohttp.TraceConfig, types.SimpleNamespace]:
    """``trace, opened = connection_counter()``: pass ``trace_configs=[trace]`` to a session;
    ``opened.count`` then says how many new TCP connections it made."""
    opened = types.SimpleNamespace(count=0)

    async def on_connection_create_end(
        session: aiohttp.ClientSession, context: types.SimpleNamespace, params: aiohttp.TraceConnectionCreateEndParams
    ) -> None:
        opened.count += 1

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_connection_create_end)
    return trace, opened


@contextlib.contextmanager
def statements_run(db: aiosqlite.Connection) -> Iterator[list[dict[str, Any]]]:
    """``with statements_run(db) as statements:`` records every ``await db.execute(sql, params)``
    made while the block runs.

    Each record is ``{"label", "start", "end"}``: the statement with its parameters filled in
    (``UPDATE accounts SET balance = balance + 500 WHERE id = 3``), prefixed with the error's name
    when it failed, and when it was sent and its answer came back (``time.perf_counter()``), so
    ``tl.add_spans(statements, lane="database")`` draws them. Only while the block runs is
    ``db.execute`` replaced, on this one connection.
    """
    statements: list[dict[str, Any]] = []
    execute = db.execute

    async def recorded_execute(sql: str, parameters: Sequence[Any] | None = None) -> aiosqlite.Cursor:
        label = _filled_in(sql, parameters or ())
        start = time.perf_counter()
        try:
            return await execute(sql, parameters)
        except Exception as exc:
            label = f"{type(exc).__name__}: {label}"
            raise
        finally:
            statements.append({"label": label, "start": start, "end": time.perf_counter()})

    db.execute = recorded_execute  # type: ignore[assignment,method-assign]
    try:
        yield statements
    finally:
        del db.execute  # the class's method again


def _filled_in(sql: str, parameters: Sequence[Any]) -> str:
    """``"... + ? WHERE id = ?", (500, 3)`` -> ``"... + 500 WHERE id = 3"`` (for a label only)."""
    parts = " ".join(sql.split()).split("?")
    if len(parts) != len(parameters) + 1:
        return " ".join(sql.split())
    return "".join(
        part + (repr(value) if n < len(parameters) else "")
        for n, (part, value) in enumerate(zip(parts, [*parameters, None]))
    )


@contextlib.asynccontextmanager
async def traced(label: str, manager: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """``async with traced("session", aiohttp.ClientSession()) as session:`` enters and exits
    ``manager`` exactly as ``async with manager as session:`` does (the expansion notebook 03
    shows), drawing its ``enter``, ``body`` and ``exit`` on a lane named ``label``."""
    async with span("enter", lane=label, kind="setup"):
        value = await manager.__aenter__()
    try:
        async with span("body", lane=label):
            yield value
    except BaseException as exc:
        async with span("exit", lane=label, kind="cleanup"):
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
    else:
        async with span("exit", lane=label, kind="cleanup"):
            await manager.__aexit__(None, None, None)

"""Exercises of notebook 05 (cancellation and cleanup): two "fix this code" exercises.

- ``q1``: ``fetch_with_retries(fetch, url, attempts)``: retries after a ``ConnectionError``, and
  after nothing else: the given version also retries after a cancellation.
- ``q2``: ``TwoConnections(connect)``: opens two connections and closes both however the block
  ends; the given version leaks the first when opening the second fails or is cancelled.

In the notebook::

    from asynclab.exercises.nb05 import q1, q2

The learner starts from working-looking code and fixes it. The checks bring their own doubles: a
``fetch`` that fails on cue and draws each call on the diagram, and a ``connect`` that opens real
in-memory ``aiosqlite`` connections, fails or stalls on cue, and remembers when each was closed. A
connection the learner's code leaves open is drawn running to the end of the diagram, then closed
by the check, so nothing leaks into the notebook.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiosqlite

from ..timeline import Timeline, span
from . import diagnose
from .core import Exercise
from .trial import cancel_during

__all__ = ["q1", "q2"]

# Long enough to cancel a call in the middle of it, short enough to keep the check quick.
STALL_SECONDS = 10.0
CANCEL_AFTER = 0.05

# --- q1: retries that let a cancellation through ----------------------------------------------------


async def fetch_with_retries(fetch, url, attempts=3):
    """Return ``await fetch(url)``; after a ConnectionError, try again, at most ``attempts`` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except ConnectionError:  # only this one: any other error, and a cancellation, go on at once
            if attempt == attempts:
                raise
            await asyncio.sleep(0.01 * attempt)  # back off a little before the next try


q1 = Exercise(
    "fetch_with_retries",
    expects="async function",
    reference=fetch_with_retries,
    hints=[
        "Which exceptions does `except BaseException` catch? `asyncio.CancelledError` is a `BaseException`: "
        "when the task is cancelled during `fetch`, this code catches the cancellation and simply tries again.",
        "Retry only what a retry can fix: catch `ConnectionError` alone. Any other exception, and a "
        "cancellation, then go on to the caller at once.",
        "`except ConnectionError:` in place of `except BaseException:` is the whole fix; keep the "
        "`raise` after the last attempt, so the caller learns that every attempt failed.",
    ],
    success="`fetch_with_retries` retries after a `ConnectionError` only; a cancellation, and any other "
    "error, reach the caller at once.",
)


class FlakyFetch:
    """``await fetch(url)`` for the checks: each call follows the next entry of ``script``.

    An entry is ``"ok"`` (return ``"page of URL"``), an exception instance (raise it after a short
    wait), or ``"stall"`` (wait until cancelled). Calls beyond the script return normally. Every call
    is drawn as a span named ``fetch #N`` on the lane of the task that made it.
    """

    def __init__(self, *script):
        self.script = list(script)
        self.calls = 0
        self.calls_after_cancel = 0
        self.cancelled = False

    async def __call__(self, url):
        self.calls += 1
        if self.cancelled:
            self.calls_after_cancel += 1
        action = self.script[self.calls - 1] if self.calls <= len(self.script) else "ok"
        async with span(f"fetch #{self.calls}", kind="fetch"):
            try:
                if action == "stall":
                    await asyncio.sleep(STALL_SECONDS)
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if isinstance(action, BaseException):
            raise action
        return f"page of {url}"


async def _retried(trial, fetch_with_retries, fetch, attempts, doing):
    """Call the answer with ``fetch``; return ("returned", value) or ("raised", exception)."""
    async with trial.step(doing):
        try:
            return "returned", await fetch_with_retries(fetch, "/page", attempts)
        except Exception as exc:
            return "raised", exc


def _outcome(outcome) -> str:
    kind, value = outcome
    return f"returned {diagnose.short_repr(value, 40)}" if kind == "returned" else f"raised {type(value).__name__}"


@q1.judge
async def judge_fetch_with_retries(trial, fetch_with_retries):
    # Promises: (1) returns fetch's value; (2) retries after ConnectionError, up to `attempts` calls in
    # all, then raises it; (3) any other exception goes on at once; (4) a cancellation during fetch,
    # or during the back-off, ends the task cancelled with no further call.
    fetch = FlakyFetch("ok")
    outcome = await _retried(trial, fetch_with_retries, fetch, 3, "`fetch_with_retries(fetch, url, 3)`")
    trial.expect_equal(outcome, ("returned", "page of /page"), "With a `fetch` that works, it")
    trial.expect(fetch.calls == 1, f"With a `fetch` that works at once, your code called it {fetch.calls} times.")

    fetch = FlakyFetch(ConnectionError("refused"), ConnectionError("refused"), "ok")
    outcome = await _retried(trial, fetch_with_retries, fetch, 3, "`fetch_with_retries(fetch, url, 3)`")
    trial.expect(
        outcome == ("returned", "page of /page") and fetch.calls == 3,
        f"`fetch` failed twice with `ConnectionError`, then worked: with `attempts=3` your code "
        f"{_outcome(outcome)} after {fetch.calls} call(s); it should return the page after the third.",
    )

    for attempts in (2, 4):
        fetch = FlakyFetch(*[ConnectionError("refused")] * 5)
        outcome = await _retried(
            trial, fetch_with_retries, fetch, attempts, f"`fetch_with_retries(fetch, url, {attempts})`"
        )
        trial.expect(
            outcome[0] == "raised" and isinstance(outcome[1], ConnectionError) and fetch.calls == attempts,
            f"With a `fetch` that always raises `ConnectionError` and `attempts={attempts}`, your code "
            f"{_outcome(outcome)} after {fetch.calls} call(s); it should call `fetch` {attempts} times, then "
            f"raise the `ConnectionError`.",
        )

    for script, where in (
        (["stall"], "while `fetch` was running"),
        ([ConnectionError("refused"), "stall"], "during the second attempt"),
    ):
        fetch = FlakyFetch(*script)
        doing = f"a task running `fetch_with_retries(fetch, url, 3)`, cancelled {where}"
        async with trial.step(doing, timeline=True) as tl:
            task = await cancel_during(lambda f=fetch: fetch_with_retries(f, "/page", 3), after=CANCEL_AFTER)
        if fetch.calls_after_cancel or not task.cancelled():
            ended = "ended cancelled" if task.cancelled() else _outcome(_task_outcome(task))
            reference = await _reference_cancel(script)
            what = (
                f"your code called `fetch` {fetch.calls_after_cancel} more time(s) after the cancellation, "
                f"and the task {ended}"
                if fetch.calls_after_cancel
                else f"your code made no further call, but the task {ended} instead of ending cancelled"
            )
            trial.fail(
                f"The task was cancelled {where}: {what}. Your `except` catches the cancellation "
                f"(`except BaseException`, a bare `except:`, or `except asyncio.CancelledError`): catch "
                f"`ConnectionError` only, so the cancellation goes on at once.",
                timelines=(tl, reference),
            )

    fetch = FlakyFetch(ValueError("bad URL"))
    outcome = await _retried(trial, fetch_with_retries, fetch, 3, "`fetch_with_retries(fetch, url, 3)`")
    trial.expect(
        outcome[0] == "raised" and isinstance(outcome[1], ValueError) and fetch.calls == 1,
        f"`fetch` raised `ValueError`, which no retry can fix: your code {_outcome(outcome)} after "
        f"{fetch.calls} call(s); it should raise the `ValueError` after the first. Catch `ConnectionError` only.",
    )


def _task_outcome(task):
    if task.exception() is not None:
        return "raised", task.exception()
    return "returned", task.result()


async def _reference_cancel(script) -> Timeline:
    fetch = FlakyFetch(*script)
    async with Timeline(show=False) as tl:
        await cancel_during(lambda: fetch_with_retries(fetch, "/page", 3), after=CANCEL_AFTER)
    return tl


# --- q2: a setup that leaks when its second half fails ------------------------------------------------


class TwoConnections:
    """``async with TwoConnections(connect) as (first, second):`` two connections, both closed at the end."""

    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        async with AsyncExitStack() as undo:
            self.first = await self.connect()
            undo.push_async_callback(self.first.close)  # closed if opening the second fails
            self.second = await self.connect()
            undo.pop_all()  # both open: keep them
        return self.first, self.second

    async def __aexit__(self, *exc_info):
        try:
            await self.second.close()
        finally:
            await self.first.close()


q2 = Exercise(
    "TwoConnections",
    expects="async context manager",
    reference=TwoConnections,
    hints=[
        "When `__aenter__` raises, `async with` never calls `__aexit__`. So when the second `connect()` "
        "fails, or is cancelled, nothing closes the first connection: `__aenter__` itself must.",
        "Wrap the second `await self.connect()` in `try:` and close `self.first` in `except BaseException:` "
        "(a cancellation too) before re-raising; or let an `AsyncExitStack` keep the list.",
        "With a stack: `async with AsyncExitStack() as undo:` open the first, "
        "`undo.push_async_callback(self.first.close)`, open the second, then `undo.pop_all()` so that "
        "nothing is closed once both are open.",
    ],
    success="`TwoConnections` closes both connections however the block ends, and closes the first one "
    "when opening the second fails or is cancelled.",
)


@dataclass
class CheckConnection:
    """A real in-memory aiosqlite connection, named, that remembers when it was opened and closed."""

    name: str
    conn: aiosqlite.Connection
    opened_at: float = field(default_factory=time.perf_counter)
    closed_at: float | None = None

    async def execute(self, sql, parameters=()):
        return await self.conn.execute(sql, parameters)

    async def close(self):
        if self.closed_at is None:
            self.closed_at = time.perf_counter()
            await self.conn.close()

    def __repr__(self):
        return f"<connection {self.name}>"


class Connector:
    """``await connect()`` for the checks; ``fail_at``/``stall_at``: which call (1, 2, ...) fails or stalls."""

    def __init__(self, *, fail_at=None, stall_at=None):
        self.fail_at, self.stall_at = fail_at, stall_at
        self.calls = 0
        self.opened: list[CheckConnection] = []

    async def __call__(self):
        self.calls += 1
        name = f"db-{self.calls}"
        if self.calls == self.stall_at:
            await asyncio.sleep(STALL_SECONDS)
        if self.calls == self.fail_at:
            await asyncio.sleep(0.01)
            raise ConnectionError(f"{name}: the database refused the connection")
        connection = CheckConnection(name, await aiosqlite.connect(":memory:"))
        self.opened.append(connection)
        return connection

    def left_open(self) -> list[str]:
        return [c.name for c in self.opened if c.closed_at is None]

    def draw_on(self, timeline: Timeline) -> None:
        """Each connection as a span, open to closed; one still open runs to the timeline's end."""
        now = time.perf_counter()
        for c in self.opened:
            label = f"{c.name} open" if c.closed_at is not None else f"{c.name}: never closed"
            timeline.add_spans(
                [{"label": label, "start": c.opened_at, "end": c.closed_at or now}], lane=c.name, kind="connection"
            )

    async def close_leftovers(self) -> None:
        for c in self.opened:
            await c.close()


async def _use(trial, TwoConnections, connector, doing, body, *, timeline=True):
    """Run ``body(manager)`` in a step; return (the step's timeline, the exception or None)."""
    manager = await trial.context_manager(TwoConnections, connector)
    raised = None
    async with trial.step(doing, timeline=timeline) as tl:
        try:
            await body(manager)
        except Exception as exc:
            raised = exc
    return tl, raised


async def _reference_run(connector, body) -> Timeline:
    async with Timeline(show=False) as tl:
        try:
            await body(TwoConnections(connector))
        except Exception:
            pass
    connector.draw_on(tl)
    await connector.close_leftovers()
    return tl


@q2.judge
async def judge_two_connections(trial, TwoConnections_):
    # Promises: (1) `as` gives the two open connections; (2) both are closed after the block, also when
    # it raises (and the error goes on); (3) when opening the second fails, the first is closed and the
    # error goes on; (4) likewise when the task is cancelled while the second is opening.
    connector = Connector()
    seen = {}

    async def finish(manager):
        async with manager as pair:
            seen["pair"] = pair
            seen["open inside"] = connector.left_open()

    try:
        await _use(
            trial, TwoConnections_, connector, "`async with TwoConnections(connect) as (first, second):`", finish
        )
        pair = seen.get("pair")
        trial.expect(
            isinstance(pair, tuple) and len(pair) == 2 and all(a is b for a, b in zip(pair, connector.opened)),
            f"`async with TwoConnections(connect) as pair` gave `pair = {diagnose.short_repr(pair, 60)}`; "
            f"`__aenter__` should return the two connections, `(first, second)`.",
        )
        trial.expect(
            seen["open inside"] == ["db-1", "db-2"],
            f"Inside the block, the open connections were {seen['open inside']}, not both.",
        )
        trial.expect(
            not connector.left_open(),
            f"After the block, {', '.join(connector.left_open())} was still open: close both in `__aexit__`.",
        )
    finally:
        await connector.close_leftovers()

    connector = Connector()

    async def raise_inside(manager):
        async with manager:
            raise KeyError("raised inside the block")

    try:
        _, raised = await _use(
            trial,
            TwoConnections_,
            connector,
            "`async with TwoConnections(connect):` around a block that raises",
            raise_inside,
        )
        trial.expect(
            isinstance(raised, KeyError),
            f"The block raised KeyError, but the caller saw {diagnose.short_repr(raised, 50)}: let it go on.",
        )
        trial.expect(
            not connector.left_open(),
            f"After a block that raised, {', '.join(connector.left_open())} was still open.",
        )
    finally:
        await connector.close_leftovers()

    async def enter(manager):
        async with manager:
            pass

    for make, doing, how in (
        (
            lambda: Connector(fail_at=2),
            "`async with TwoConnections(connect):` when the second `connect()` fails",
            "failed",
        ),
        (
            lambda: Connector(stall_at=2),
            "a task in `async with TwoConnections(connect):`, cancelled while the second connection opens",
            "was cancelled",
        ),
    ):
        connector = make()
        try:
            if how == "failed":
                tl, raised = await _use(trial, TwoConnections_, connector, doing, enter)
                trial.expect(
                    isinstance(raised, ConnectionError),
                    f"Opening the second connection raised ConnectionError, but the caller saw "
                    f"{diagnose.short_repr(raised, 50)}: let it go on.",
                )
            else:
                manager = await trial.context_manager(TwoConnections_, connector)
                async with trial.step(doing, timeline=True) as tl:
                    task = await cancel_during(lambda m=manager: enter(m), after=CANCEL_AFTER)
                trial.expect_cancelled(task, "When the task was cancelled while the second connection was opening")
            leaked = connector.left_open()
            if leaked:
                connector.draw_on(tl)
                reference = await _reference_run(make(), enter if how == "failed" else _cancelled_entry)
                trial.fail(
                    f"Opening the second connection {how}, and {', '.join(leaked)} was left open: `async with` "
                    f"calls no `__aexit__` when `__aenter__` raises, so `__aenter__` must close what it opened. "
                    f"On the diagram, your `{leaked[0]}` stays open to the end.",
                    timelines=(tl, reference),
                )
        finally:
            await connector.close_leftovers()


async def _cancelled_entry(manager):
    async def enter():
        async with manager:
            pass

    await cancel_during(enter, after=CANCEL_AFTER)

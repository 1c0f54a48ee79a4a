"""Exercises of notebook 04 (a resource pool).

- ``q1``: ``borrow(queue, timeout)``: lend a resource from a queue, waiting at most ``timeout``
  seconds for one (the wait, not the work), and always give it back.
- ``q2``: ``session_pool(size)``: a queue of ``size`` aiohttp sessions, every one closed at the end.
- ``q3``: ``borrow_healthy(queue, connect, is_healthy)``: lend a connection, replacing a broken one.
- ``q4``: ``process_all(items, handle, workers)``, a transfer: a fixed set of workers sharing one queue.

In the notebook::

    from asynclab.exercises.nb04 import q1, q2, q3

The checks bring their own resources: strings for ``q1``, and real ``aiosqlite`` connections to
in-memory databases for ``q3``, one of them broken on purpose with
``asynclab.lessons.nb04.break_connection``. Every connection a check opens is closed before it ends.
"""

import asyncio
import collections
import inspect
import sqlite3
from contextlib import asynccontextmanager

import aiohttp
import aiosqlite

from ..lessons.nb04 import break_connection, is_closed
from ..timeline import span
from . import diagnose
from .core import Exercise
from .demo import fake_fetch
from .schedule import Job
from .trial import cancel_during, wait_for_tasks

__all__ = ["is_healthy", "q1", "q2", "q3", "q4"]


async def _enter_bounded(manager, limit):
    """Enter ``manager`` in a task, allowing at most ``limit`` s: ("done", what it gave, s),
    ("raised", exc, s) or ("waiting", None, limit) after cancelling it."""

    async def enter():
        async with manager as got:
            return got

    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(enter())
    done, _ = await wait_for_tasks([task], timeout=limit)
    if not done:
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
        if task.done() and not task.cancelled():
            task.exception()  # its outcome no longer matters: the wait was the problem
        return "waiting", None, limit
    elapsed = loop.time() - started
    if task.cancelled():
        return "raised", asyncio.CancelledError(), elapsed
    if task.exception() is not None:
        return "raised", task.exception(), elapsed
    return "done", task.result(), elapsed


async def _cancel_inside(manager, after=0.05):
    """A task enters ``manager``'s block, sleeps there, and is cancelled after ``after`` s; returns the task."""

    async def body():
        async with manager:
            await asyncio.sleep(10)

    return await cancel_during(body, after)


def _contents(queue):
    """The items in an asyncio.Queue, in the order ``get`` would hand them out, leaving them in.

    ``asyncio.Queue`` has no public way to look inside. CPython keeps the items in a private
    ``_queue`` (a deque; a list for ``PriorityQueue``), which is cheap to read and disturbs
    nothing, so it is used when it is there and looks as expected. Private means it may change in
    any release, so when it is not, the items are taken out with ``get_nowait`` and put back with
    ``put_nowait``, which keeps their order in a FIFO queue (the pools here are all FIFO), and
    ``task_done`` undoes the count that ``put_nowait`` adds for ``join()``.
    """
    items = getattr(queue, "_queue", None)
    if isinstance(items, (collections.deque, list)) and len(items) == queue.qsize():
        return list(items)
    taken = []
    while True:
        try:
            taken.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            break
    for item in taken:
        queue.put_nowait(item)
        queue.task_done()
    return taken


# --- q1: borrow with a timeout ----------------------------------------------------------------------


@asynccontextmanager
async def borrow(queue, timeout):
    async with asyncio.timeout(timeout):  # only the wait for a resource
        resource = await queue.get()
    try:
        yield resource
    finally:  # also on an error or a cancellation; no await, so nothing can interrupt it
        queue.put_nowait(resource)


q1 = Exercise(
    "borrow",
    expects="async context manager",
    reference=borrow,
    hints=[
        "Decorate `async def borrow(queue, timeout):` with `@asynccontextmanager`. Take a "
        "resource with `resource = await queue.get()`, `yield resource`, then give it back with "
        "`queue.put_nowait(resource)`.",
        "Bound the wait with `async with asyncio.timeout(timeout):` around `await queue.get()` only. "
        "If the `yield` is inside that block too, the timeout also cuts short the work done with the resource.",
        "Put the `yield` in `try:` and give the resource back in `finally:`: an error in the block, or "
        "a cancellation (`CancelledError` is not an `Exception`), must not keep it out of the queue.",
    ],
    success="`borrow` waits at most `timeout` for a resource, lets the work take as long as it needs, "
    "and always gives the resource back.",
)


class _WatchedQueue(asyncio.Queue):
    """An ``asyncio.Queue`` that remembers whether anything was given back with ``await put()``."""

    awaited_put = False

    async def put(self, item):
        self.awaited_put = True
        await super().put(item)


def _queue_of(*items):
    queue = _WatchedQueue()
    for item in items:
        queue.put_nowait(item)
    return queue


def _check_no_await_to_give_back(trial, queue):
    trial.expect(
        not queue.awaited_put,
        "`borrow_healthy` gave the connection back with `await queue.put(...)`. An `await` in "
        "`finally:` can be interrupted by a second cancellation, and the connection is lost: "
        "give it back with `queue.put_nowait(conn)`, which cannot be interrupted.",
    )


def _check_given_back(trial, queue, resource, when):
    items = _contents(queue)
    trial.expect(len(items) <= 1, f"{when}, the queue held {items!r}: give the resource back once.")
    trial.expect(
        items == [resource],
        f"{when}, the resource was not back in the queue: give it back with "
        f"`queue.put_nowait(resource)` in `finally:`, so it comes back whatever happens in the block.",
    )


# What the statement promises, each tried below by one scenario: it lends a resource taken from
# the queue (out of the queue while lent) and gives it back; it waits at most `timeout` for one and
# raises TimeoutError, leaving the queue as it was (nothing put back that was not taken); a resource
# that comes back during the wait is lent at once; the timeout covers only the wait, not the block;
# the resource comes back when the block raises (the error goes on) or is cancelled (so does the
# cancellation); a task cancelled while waiting leaves the queue as it was.
@q1.judge
async def judge_borrow(trial, borrow):
    await _lends_and_gives_back(trial, borrow)
    await _gives_up_on_an_empty_queue(trial, borrow)
    await _lends_what_comes_back(trial, borrow)
    await _bounds_only_the_wait(trial, borrow)
    await _gives_back_after_an_error(trial, borrow)
    await _gives_back_after_a_cancellation(trial, borrow)
    await _cancelled_while_waiting(trial, borrow)


async def _lends_and_gives_back(trial, borrow):
    """It lends the resource and gives it back."""
    queue = _queue_of("conn-1")
    doing = "`async with borrow(queue, 0.5) as resource:` with one resource in the queue"
    manager = await trial.context_manager(borrow, queue, 0.5, doing="`borrow(queue, 0.5)`")
    async with trial.step(doing):
        async with manager as resource:
            left_inside = queue.qsize()
    trial.expect(
        resource == "conn-1",
        f"`async with borrow(queue, 0.5) as resource` gave `resource = "
        f"{diagnose.short_repr(resource, 40)}`; `yield` the resource taken from the queue.",
    )
    trial.expect(
        left_inside == 0,
        "While the block ran, the resource was still in the queue: take it "
        "out with `await queue.get()`, so no one else can borrow it meanwhile.",
    )
    _check_given_back(trial, queue, "conn-1", "After the block")


async def _gives_up_on_an_empty_queue(trial, borrow):
    """The wait is bounded."""
    empty = _queue_of()
    manager = await trial.context_manager(borrow, empty, 0.2, doing="`borrow(queue, 0.2)`")

    async with trial.step("`async with borrow(queue, 0.2):` on an empty queue"):
        outcome, value, seconds = await _enter_bounded(manager, 1.5)
    if outcome == "waiting":
        trial.fail(
            "`borrow(queue, 0.2)` on an empty queue was still waiting after 1.5 s: bound the "
            "wait with `async with asyncio.timeout(timeout):` around `await queue.get()`."
        )
    if outcome == "done":
        trial.fail(
            f"`borrow(queue, 0.2)` on an empty queue entered its block with "
            f"{diagnose.short_repr(value, 40)}: there was no resource to lend; wait for one "
            f"with `await queue.get()`, and raise TimeoutError if none comes in time."
        )
    if isinstance(value, asyncio.QueueEmpty):
        trial.fail(
            "`borrow(queue, 0.2)` on an empty queue raised QueueEmpty: `get_nowait()` does "
            "not wait. Wait for a resource to come back with `await queue.get()`, inside "
            "`async with asyncio.timeout(timeout):`."
        )
    if not isinstance(value, TimeoutError):
        trial.fail(
            f"`borrow(queue, 0.2)` on an empty queue raised {type(value).__name__}: {value}; "
            f"it should raise TimeoutError when no resource came within `timeout` seconds "
            f"(`asyncio.timeout` does that)."
        )
    trial.expect(
        seconds >= 0.15,
        f"`borrow(queue, 0.2)` on an empty queue gave up after {seconds:.2f} s: "
        f"wait up to `timeout` seconds for a resource to come back.",
    )
    trial.expect(
        seconds <= 1.0,
        f"`borrow(queue, 0.2)` on an empty queue took {seconds:.2f} s to give up; it should give up after about 0.2 s.",
    )
    _check_left_as_it_was(trial, empty, "After `borrow(queue, 0.2)` gave up on an empty queue")


async def _lends_what_comes_back(trial, borrow):
    """A resource that comes back during the wait is lent at once."""
    queue = _queue_of()
    asyncio.get_running_loop().call_later(0.1, queue.put_nowait, "conn-2")
    manager = await trial.context_manager(borrow, queue, 0.6, doing="`borrow(queue, 0.6)`")

    async with trial.step("`async with borrow(queue, 0.6):` while a resource comes back after 0.1 s"):
        outcome, value, seconds = await _enter_bounded(manager, 1.5)
    if outcome == "raised":
        trial.fail(
            f"`borrow(queue, 0.6)` raised {type(value).__name__} although a resource came back "
            f"after 0.1 s: wait for it with `await queue.get()`, which wakes up as soon as one is put back."
        )
    trial.expect(
        outcome == "done" and value == "conn-2",
        f"`borrow(queue, 0.6)` lent {diagnose.short_repr(value, 40)} instead of the resource "
        f"that came back after 0.1 s.",
    )
    trial.expect(
        seconds < 0.45,
        f"A resource came back after 0.1 s, but `borrow(queue, 0.6)` lent it "
        f"only after {seconds:.2f} s: `await queue.get()` takes it as soon as it "
        f"is there, instead of sleeping first.",
    )
    _check_given_back(trial, queue, "conn-2", "After the block that got the resource coming back after 0.1 s")


async def _bounds_only_the_wait(trial, borrow):
    """The timeout covers the wait, not the work."""
    queue = _queue_of("conn-3")
    manager = await trial.context_manager(borrow, queue, 0.1, doing="`borrow(queue, 0.1)`")
    async with trial.step("`async with borrow(queue, 0.1): await asyncio.sleep(0.25)`"):
        try:
            async with manager:
                await asyncio.sleep(0.25)
        except TimeoutError:
            trial.fail(
                "`borrow(queue, 0.1)` raised TimeoutError in a block that got its resource at "
                "once and then worked for 0.25 s: the timeout must bound only the wait for the "
                "resource. Put `async with asyncio.timeout(timeout):` around `await queue.get()`, "
                "not around the `yield`."
            )
    _check_given_back(trial, queue, "conn-3", "After a block that took longer than the timeout")


async def _gives_back_after_an_error(trial, borrow):
    """An error in the block: the error goes on, the resource comes back."""
    queue = _queue_of("conn-4")
    manager = await trial.context_manager(borrow, queue, 0.5, doing="`borrow(queue, 0.5)`")
    async with trial.step("`async with borrow(queue, 0.5):` around a block that raises ValueError"):
        with trial.expect_raises(
            ValueError, "`borrow` swallowed the ValueError raised in its block: don't catch it, or raise it again."
        ):
            async with manager:
                raise ValueError("raised inside the block")
    _check_given_back(trial, queue, "conn-4", "After the block raised ValueError")


async def _gives_back_after_a_cancellation(trial, borrow):
    """A cancellation in the block: the resource comes back."""
    queue = _queue_of("conn-5")
    manager = await trial.context_manager(borrow, queue, 0.5, doing="`borrow(queue, 0.5)`")
    async with trial.step("a task in `async with borrow(queue, 0.5):`, cancelled after 0.05 s"):
        task = await _cancel_inside(manager)
    trial.expect(
        _contents(queue) == ["conn-5"],
        "When the task holding the resource was cancelled, the resource was not given back. "
        "Cancellation raises `CancelledError`, which is not an `Exception`: give the resource "
        "back in `finally:`, not in `except Exception:`.",
    )
    trial.expect_cancelled(task, "When the task holding the resource was cancelled")


async def _cancelled_while_waiting(trial, borrow):
    """A task waiting on an empty queue is cancelled: the queue stays empty, the cancellation goes on."""
    empty = _queue_of()
    manager = await trial.context_manager(borrow, empty, 1.0, doing="`borrow(queue, 1.0)`")
    async with trial.step("a task in `async with borrow(queue, 1.0):` on an empty queue, cancelled while it waits"):
        task = await _cancel_inside(manager, after=0.05)
    _check_left_as_it_was(trial, empty, "After a task waiting in `borrow(queue, 1.0)` on an empty queue was cancelled")
    trial.expect_cancelled(task, "When the task was cancelled while it waited for a resource")


def _check_left_as_it_was(trial, queue, when):
    """The queue was empty and nothing was lent: it must still be empty."""
    items = _contents(queue)
    trial.expect(
        not items,
        f"{when}, the queue held {diagnose.short_repr(items, 50)}, but it was empty and nothing was "
        f"lent: give back only a resource you took (put it back in the `finally:` of a `try:` that "
        f"starts after `await queue.get()` returned), never a placeholder.",
    )


# --- q2: a pool of aiohttp sessions -------------------------------------------------------------------


@asynccontextmanager
async def session_pool(size):
    sessions = [aiohttp.ClientSession() for _ in range(size)]
    queue: asyncio.Queue[aiohttp.ClientSession] = asyncio.Queue()
    for session in sessions:
        queue.put_nowait(session)
    try:
        yield queue
    finally:  # every session made here, also one that is lent out right now
        for session in sessions:
            await session.close()


q2 = Exercise(
    "session_pool",
    expects="async context manager",
    reference=session_pool,
    hints=[
        "Decorate `async def session_pool(size):` with `@asynccontextmanager`. Make a list "
        "of `size` sessions: `[aiohttp.ClientSession() for _ in range(size)]`, a new one each time.",
        "Put each session in an `asyncio.Queue()` with `put_nowait`, and `yield` the queue.",
        "Close the sessions in `finally:` after the `yield`, going through *your list*, not the queue: "
        "a session lent out when the block ended is not in the queue, and must be closed too.",
    ],
    success="`session_pool` lends out separate, open sessions and closes every one of them however "
    "the block ends (finished, raised or cancelled), also one still lent out.",
)


def _take_all(queue):
    return [queue.get_nowait() for _ in range(queue.qsize())]


def _still_open(sessions, when):
    open_ = [s for s in sessions if not s.closed]
    if open_:
        return (
            f"{when}, {len(open_)} of the {len(sessions)} sessions were still open: close every "
            f"session you opened (`await session.close()`) in `finally:` after the `yield`."
        )
    return None


# What the statement promises, each tried below: `size` separate, open `aiohttp.ClientSession`s in
# an `asyncio.Queue` given to the block; every one closed when the block ends, however it ends: it
# finishes, it raises (the error goes on), it raises with a session taken out, or its task is
# cancelled with a session taken out (the cancellation goes on).
@q2.judge
async def judge_session_pool(trial, session_pool):
    manager = await trial.context_manager(session_pool, 3)
    async with trial.step("`async with session_pool(3) as sessions:`"):
        async with manager as sessions:
            trial.expect(
                isinstance(sessions, asyncio.Queue),
                f"`async with session_pool(3) as sessions` gave `sessions = "
                f"{diagnose.short_repr(sessions, 50)}`; `yield` an `asyncio.Queue` holding the sessions.",
            )
            lent = _take_all(sessions)
            trial.expect(
                len(lent) == 3, f"The queue from `session_pool(3)` held {len(lent)} items; it should hold 3 sessions."
            )
            trial.expect(
                all(isinstance(s, aiohttp.ClientSession) for s in lent),
                f"The queue from `session_pool(3)` held {diagnose.short_repr(lent, 60)}; "
                f"put `aiohttp.ClientSession()` objects in it.",
            )
            trial.expect(
                len({id(s) for s in lent}) == 3,
                "The queue from `session_pool(3)` held the same session more than once: "
                "open a new `aiohttp.ClientSession()` for each of the `size` places.",
            )
            trial.expect(
                not any(s.closed for s in lent),
                "A session in the queue was already closed inside the block: keep them open until the block ends.",
            )
            for session in lent:
                sessions.put_nowait(session)

            async def use_one(n):  # borrow a session, use it, give it back
                session = await sessions.get()
                try:
                    return await fake_fetch(session, f"https://example.com/{n}")
                finally:
                    sessions.put_nowait(session)

            await asyncio.gather(*(use_one(n) for n in range(6)))
        problem = _still_open(lent, "After the `async with session_pool(3)` block")
        if problem:
            trial.fail(problem)

    manager = await trial.context_manager(session_pool, 2)
    async with trial.step("`async with session_pool(2):` around a block that raises ValueError"):
        with trial.expect_raises(
            ValueError, "`session_pool` swallowed the ValueError raised in its block: let it go on to the caller."
        ):
            async with manager as sessions:
                lent = list(_contents(sessions))
                raise ValueError("raised inside the block")
        problem = _still_open(lent, "When the block raised ValueError")
        if problem:
            trial.fail(problem)

    manager = await trial.context_manager(session_pool, 2)
    async with trial.step(
        "`async with session_pool(2) as sessions:` whose block takes a session and then raises ValueError"
    ):
        with trial.expect_raises(
            ValueError, "`session_pool` swallowed the ValueError raised in its block: let it go on to the caller."
        ):
            async with manager as sessions:
                everything = list(_contents(sessions))
                taken = await sessions.get()  # lent out, never given back
                raise ValueError("raised while a session was lent out")
        trial.expect(
            taken.closed,
            "A session that was lent out when the block ended (taken from the queue, not put "
            "back, because the block raised) was left open. Keep a list of every session you "
            "opened and close them all, not only the ones still in the queue.",
        )
        problem = _still_open(everything, "When the block raised while a session was lent out")
        if problem:
            trial.fail(problem)
    await _judge_cancelled_pool(trial, session_pool)


async def _judge_cancelled_pool(trial, session_pool):
    """The block's task is cancelled while it holds a session: every session is closed all the same."""
    manager = await trial.context_manager(session_pool, 2)
    everything = []

    async def body():
        async with manager as sessions:
            everything.extend(_contents(sessions))
            await sessions.get()  # lent out when the cancellation comes
            await asyncio.sleep(10)

    async with trial.step("a task in `async with session_pool(2) as sessions:`, holding a session, cancelled"):
        task = await cancel_during(body, 0.05)
        problem = _still_open(everything, "When the block's task was cancelled")
        if problem:
            trial.fail(
                problem + " Cancellation raises `CancelledError`, which is not an `Exception`: close "
                "them in `finally:`, which runs however the block ends."
            )
    trial.expect_cancelled(task, "When the block's task was cancelled")


# --- q3: replace broken connections ---------------------------------------------------------------------


async def is_healthy(conn):
    try:
        await conn.execute("SELECT 1")
    except (sqlite3.Error, ValueError):  # broken underneath, or already closed
        return False
    return True


@asynccontextmanager
async def borrow_healthy(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        if not await is_healthy(conn):
            await conn.close()  # a broken connection still holds a thread (or a socket)
            conn = await connect()
        yield conn
    finally:
        queue.put_nowait(conn)  # whatever was lent: the new connection if it was replaced


q3 = Exercise(
    "borrow_healthy",
    expects="async context manager",
    reference=borrow_healthy,
    hints=[
        "Decorate `async def borrow_healthy(queue, connect, is_healthy):` with "
        "`@asynccontextmanager`. Take `conn = await queue.get()`, `yield conn`, and give it "
        "back with `queue.put_nowait(conn)` in `finally:`.",
        "Before the `yield`: `if not await is_healthy(conn):` then `await conn.close()` and `conn = await connect()`.",
        "Do the check inside the `try:`, and give back the variable you lent (`conn`, which now names "
        "the new connection), not the broken one you took.",
    ],
    success="`borrow_healthy` never lends out a broken connection, closes it, and keeps the pool full.",
)


class _Connector:
    """``await connector()`` opens a real aiosqlite connection; remembers every one it opened."""

    def __init__(self):
        self.opened = []

    async def __call__(self):
        conn = await aiosqlite.connect(":memory:")
        self.opened.append(conn)
        return conn

    async def close_all(self):
        for conn in self.opened:
            if not is_closed(conn):
                await conn.close()


async def _lent_connection(trial, lent, when):
    """Fail unless ``lent`` is a working aiosqlite connection."""
    if inspect.iscoroutine(lent):
        lent.close()
        trial.fail(f"{when}, `borrow_healthy` lent a coroutine instead of a connection: `conn = await connect()`.")
    trial.expect(
        isinstance(lent, aiosqlite.Connection),
        f"{when}, `borrow_healthy` lent {diagnose.short_repr(lent, 40)}; lend the connection "
        f"from the queue, or a new one from `await connect()`.",
    )
    return await is_healthy(lent)


# What the statement promises, each tried below: a healthy connection lent as it is (no new one);
# a broken one closed and replaced by `await connect()`; whatever was lent back in the queue
# afterwards, without an `await`, also when the block raises.
@q3.judge
async def judge_borrow_healthy(trial, borrow_healthy):
    connect = _Connector()
    try:
        await _judge_borrow_healthy(trial, borrow_healthy, connect)
    finally:
        await connect.close_all()


async def _judge_borrow_healthy(trial, borrow_healthy, connect):
    # A healthy connection is lent as it is.
    good = await connect()
    queue = _queue_of(good)
    doing = "`borrow_healthy(queue, connect, is_healthy)`"
    manager = await trial.context_manager(borrow_healthy, queue, connect, is_healthy, doing=doing)
    async with trial.step(f"`async with {doing[1:-1]} as conn:` with a healthy connection in the queue"):
        async with manager as lent:
            works = await _lent_connection(trial, lent, "With a healthy connection in the queue")
            left_inside = queue.qsize()
    trial.expect(works, "With a healthy connection in the queue, the connection lent did not work.")
    trial.expect(
        lent is good,
        "With a healthy connection in the queue, `borrow_healthy` lent a new one: "
        "open a new connection only when `await is_healthy(conn)` is False.",
    )
    trial.expect(
        len(connect.opened) == 1,
        "With a healthy connection in the queue, `borrow_healthy` "
        "still called `connect()`: only replace a broken connection.",
    )
    trial.expect(
        left_inside == 0,
        "While the block ran, the connection was still in the queue: take it out with `await queue.get()`.",
    )
    trial.expect(
        _contents(queue) == [good],
        "After the block, the healthy connection was not back in the queue: `queue.put_nowait(conn)` in `finally:`.",
    )
    _check_no_await_to_give_back(trial, queue)

    # A broken connection is closed and replaced.
    broken = await connect()
    await break_connection(broken)  # as if the database server had dropped it
    queue = _queue_of(broken)
    manager = await trial.context_manager(borrow_healthy, queue, connect, is_healthy, doing=doing)
    async with trial.step(f"`async with {doing[1:-1]} as conn:` with a broken connection in the queue"):
        async with manager as lent:
            trial.expect(
                lent is not broken,
                "`borrow_healthy` lent the broken connection: queries on it fail with "
                "`sqlite3.ProgrammingError: Cannot operate on a closed database.` Check it first "
                "with `await is_healthy(conn)` and replace it if that is False.",
            )
            works = await _lent_connection(trial, lent, "With a broken connection in the queue")
    trial.expect(
        works,
        "With a broken connection in the queue, the connection lent instead did not work: "
        "lend the new connection from `await connect()`.",
    )
    trial.expect(
        is_closed(broken),
        "The broken connection was never closed: `await conn.close()` before "
        "replacing it. A broken connection still holds its thread (a server "
        "connection, its socket) until it is closed.",
    )
    back = _contents(queue)
    trial.expect(
        broken not in back,
        "The broken connection went back into the queue: give back the "
        "connection you lent (the new one), so the next borrower gets a working one.",
    )
    trial.expect(
        back == [lent],
        f"After the block, the queue held {len(back)} connections instead of "
        f"the one that was lent: `queue.put_nowait(conn)` once, in `finally:`.",
    )

    # An error in the block: the error goes on, the connection comes back.
    queue = _queue_of(good)
    manager = await trial.context_manager(borrow_healthy, queue, connect, is_healthy, doing=doing)
    async with trial.step(f"`async with {doing[1:-1]}:` around a block that raises ValueError"):
        with trial.expect_raises(
            ValueError, "`borrow_healthy` swallowed the ValueError raised in its block: let it go on to the caller."
        ):
            async with manager:
                raise ValueError("raised inside the block")
    trial.expect(
        _contents(queue) == [good],
        "After the block raised ValueError, the connection was not back in the queue: give it back in `finally:`.",
    )


# --- q4 (transfer): a fixed set of workers sharing one queue ----------------------------------------


async def process_all(items, handle, workers):
    queue: asyncio.Queue[tuple[int, object]] = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))
    results = [None] * len(items)

    async def worker():
        while True:
            index, item = await queue.get()
            try:
                results[index] = await handle(item)
            finally:
                queue.task_done()

    async with asyncio.TaskGroup() as tg:  # a failing handle cancels the other workers, and raises
        running = [tg.create_task(worker()) for _ in range(workers)]
        await queue.join()  # every item taken and marked done
        for task in running:
            task.cancel()  # idle now, waiting on the empty queue: stop them
    return results


q4 = Exercise(
    "process_all",
    expects="async function",
    reference=process_all,
    hints=[
        "Put every `(index, item)` pair in an `asyncio.Queue` first; then start `workers` tasks, each a "
        "`while True` loop that takes the next pair, awaits `handle(item)` and stores the result at its index.",
        "`await queue.join()` returns once every item has been marked done: call `queue.task_done()` after "
        "each `handle`, in a `finally`, so a failure counts too. Then cancel the workers, which wait on the "
        "empty queue for ever.",
        "Start the workers in an `asyncio.TaskGroup`: if a `handle` raises, it cancels the other workers and "
        "raises the error, instead of leaving `join()` waiting.",
    ],
    success="`process_all` kept `workers` calls running while items waited, never more, returned the results "
    "in order, and left no worker behind, also when a `handle` failed.",
)

Q4_SECONDS = [0.15, 0.05, 0.05, 0.1, 0.05, 0.15, 0.05, 0.05, 0.1]


class TimedHandler:
    """``await handle(item)`` for the check: item ``i`` takes ``seconds[i]``, drawn as a span; may fail."""

    def __init__(self, seconds, fail_on=None):
        self.seconds, self.fail_on = seconds, fail_on

    async def __call__(self, item):
        with span(f"item {item}", kind="handle"):
            await asyncio.sleep(self.seconds[item])
        if item == self.fail_on:
            raise ValueError(f"item {item} could not be handled")
        return item * 10


def _handle_jobs(timeline) -> list[Job]:
    """Every item is ready when the block starts (spans are in seconds since then)."""
    return [Job(0.0, s.start, s.end) for s in timeline.spans if s.kind == "handle"]


def _workers_left(before: set) -> list:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() - before if not t.done() and t is not current]


@q4.judge
async def judge_process_all(trial, process_all):
    # Promises: (1) the results in the order of `items`; (2) at most `workers` calls at once, and
    # `workers` whenever items wait; (3) no worker left running when it returns; (4) a failing
    # `handle` makes it raise that error, also with no worker left and no hang.
    items = list(range(len(Q4_SECONDS)))
    before = asyncio.all_tasks()
    async with trial.step("`process_all(items, handle, 3)`", timeline=True) as tl:
        results = await process_all(items, TimedHandler(Q4_SECONDS), 3)
        left = _workers_left(before)
        trial.expect(
            not left,
            f"`process_all` returned, but {len(left)} of its tasks were still running (waiting for more "
            f"items): once `queue.join()` has returned, cancel the workers, or end each with a sentinel.",
        )
    trial.expect_equal(
        list(results) if isinstance(results, tuple) else results,
        [item * 10 for item in items],
        "`process_all(items, handle, 3)` returned",
    )
    jobs = _handle_jobs(tl)
    trial.expect(
        tl.max_concurrency("handle") <= 3,
        f"{tl.max_concurrency('handle')} `handle` calls ran at once with `workers=3`: start exactly "
        f"`workers` worker tasks, and have each handle one item at a time.",
    )
    await trial.expect_slots_busy(
        jobs,
        limit=3,
        what="`handle` calls",
        waiting="items",
        reference_args=(items, TimedHandler(Q4_SECONDS), 3),
        advice="Let each worker take the next item as soon as it is free: a `while True` loop around "
        "`await queue.get()`.",
    )

    before = asyncio.all_tasks()
    async with trial.step("`process_all(items, handle, 2)` with a `handle` that raises ValueError on item 3"):
        raised = None
        try:
            await process_all(items[:6], TimedHandler(Q4_SECONDS, fail_on=3), 2)
        except Exception as exc:
            raised = exc
        left = _workers_left(before)
        trial.expect(
            not left,
            f"After `handle` failed, {len(left)} of `process_all`'s tasks were still running: start the "
            f"workers in an `asyncio.TaskGroup`, which cancels the others when one fails.",
        )
    leaf, _ = diagnose.first_leaf(raised) if raised is not None else (None, None)
    trial.expect(
        isinstance(leaf, ValueError),
        f"`handle` raised ValueError on item 3, but `process_all` "
        f"{'returned normally' if raised is None else f'raised {type(raised).__name__}'}: let the error reach "
        f"the caller (a `TaskGroup` raises it in an `ExceptionGroup`, which is fine).",
    )

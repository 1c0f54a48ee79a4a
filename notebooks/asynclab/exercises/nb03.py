"""Exercises of notebook 03 (async with).

- ``q1``: ``timed(label, log)``: a timing context manager that records even when its block fails.
- ``q2``: ``fetch_all_limited(fetch, urls, limit)``: a concurrency limiter (a shared semaphore).
- ``q3``: ``atomic(db)``: a transaction manager that commits, or rolls back on any failure.
- ``q4``: ``Borrow(pool)``: a class-based async context manager that always gives back what it took.
- ``q5``: ``RateLimiter(calls, period)``, a transfer: at most ``calls`` starts in any ``period`` seconds.

In the notebook::

    from asynclab.exercises.nb03 import q1, q2, q3, q4

The checks bring their own test doubles: a ``fetch`` that counts the calls in progress (and draws
each call as a span of kind ``"fetch"``), an in-memory SQLite database, and a pool that notices a
connection taken and never given back.
"""

import asyncio
import contextlib
import sqlite3
import time

import aiosqlite

from ..timeline import span
from . import diagnose
from .core import Exercise
from .nb02 import _semaphores, _SemaphoreWatch
from .schedule import Job
from .trial import cancel_during, stop_tasks, wait_for_tasks

__all__ = ["q1", "q2", "q3", "q4", "q5"]


# --- q1: a timing context manager -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def timed(label, log):
    start = time.perf_counter()
    try:
        yield
    finally:  # also when the block raises or is cancelled
        log.append((label, time.perf_counter() - start))


q1 = Exercise(
    "timed",
    expects="async context manager",
    reference=timed,
    hints=[
        "Decorate an `async def timed(label, log):` with `@contextlib.asynccontextmanager`; the code "
        "before its single `yield` runs when the block starts, the code after it when the block ends.",
        "Read `time.perf_counter()` before the `yield` and again after it; the difference is in seconds.",
        "The block may raise, or be cancelled: put the `yield` in `try:` and append in `finally:`, so "
        "it happens either way and the exception still goes on to the caller.",
    ],
    success="`timed` records every block, whether it finished, raised or was cancelled, and hides no error.",
)


def _check_entry(trial, log, label, seconds_taken, when):
    trial.expect(
        len(log) <= 1, f"{when}, `log` holds {len(log)} entries; append exactly one `(label, seconds)` per block."
    )
    trial.expect(
        len(log) == 1,
        f"{when}, `log` is still empty: append `(label, seconds)` when the block "
        f"ends; put it in `finally:` so it happens even when the block fails.",
    )
    entry = log[0]
    trial.expect(
        isinstance(entry, tuple) and len(entry) == 2,
        f"{when}, `log` got {entry!r}; append a pair: `log.append((label, seconds))`.",
    )
    got_label, seconds = entry
    trial.expect_equal(got_label, label, f"{when}, the label in `log` was")
    trial.expect(
        isinstance(seconds, (int, float)) and not isinstance(seconds, bool),
        f"{when}, the seconds in `log` were {seconds!r}; use `time.perf_counter()` twice and subtract.",
    )
    trial.expect(
        0.6 * seconds_taken <= seconds <= seconds_taken + 1.0,
        f"{when}, the block took about {seconds_taken:g} s, but `log` says {seconds:.3f}. Measure in "
        f"seconds with `time.perf_counter()`, before the `yield` and after it.",
    )


# What the statement promises, each tried below: one `(label, seconds)` appended when the block
# ends (not before), the seconds measured; also when the block raises (the exception goes on)
# and when it is cancelled (the cancellation goes on).
@q1.judge
async def judge_timed(trial, timed):
    log: list[str] = []
    manager = await trial.context_manager(timed, "nap", log)
    async with trial.step("`async with timed('nap', log): await asyncio.sleep(0.2)`"):
        async with manager:
            inside = list(log)
            await asyncio.sleep(0.2)
    trial.expect(
        inside == [],
        "`log` already had an entry inside the block: append when the block ends "
        "(after the `yield`), once the time is known.",
    )
    _check_entry(trial, log, "nap", 0.2, "After `async with timed('nap', log)` around a 0.2 s sleep")

    log = []
    manager = await trial.context_manager(timed, "failing", log)
    async with trial.step("`async with timed('failing', log):` around a block that raises ValueError"):
        with trial.expect_raises(
            ValueError,
            "`timed` swallowed the ValueError raised in its block: "
            "let it go on to the caller (don't catch it around the `yield`, "
            "or re-raise it; `__aexit__` must not return True).",
        ):
            async with manager:
                await asyncio.sleep(0.05)
                raise ValueError("raised inside the block")
    _check_entry(trial, log, "failing", 0.05, "When the block raised ValueError")

    log = []
    manager = await trial.context_manager(timed, "cancelled", log)

    async def cancelled_body():
        async with manager:
            await asyncio.sleep(10)

    async with trial.step("a task in `async with timed('cancelled', log):`, cancelled after 0.05 s"):
        task = await cancel_during(cancelled_body)
    trial.expect(
        len(log) == 1,
        "When the block was cancelled, nothing was appended to `log`. "
        "Cancellation raises `CancelledError`, which is not an `Exception`: "
        "append in `finally:` rather than in `except Exception:`.",
    )
    _check_entry(trial, log, "cancelled", 0.05, "When the block was cancelled")
    trial.expect_cancelled(task, "When the block was cancelled")


# --- q2: at most `limit` calls at once --------------------------------------------------------------


async def fetch_all_limited(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)  # one semaphore, shared by every call

    async def fetch_one(url):
        async with semaphore:
            return await fetch(url)

    return await asyncio.gather(*(fetch_one(url) for url in urls))


q2 = Exercise(
    "fetch_all_limited",
    expects="async function",
    reference=fetch_all_limited,
    hints=[
        "Create one `asyncio.Semaphore(limit)` in `fetch_all_limited`, before starting any call: every "
        "call must share it (a semaphore created inside each call limits nothing).",
        "Write a small `async def fetch_one(url):` that does `async with semaphore: return await fetch(url)`.",
        "Start every `fetch_one(url)` at once with `await asyncio.gather(...)`: the semaphore holds back "
        "all but `limit` of them, and `gather` returns the results in the order of `urls`.",
    ],
    success="Never more than `limit` calls at once, no free slot left idle while URLs were waiting "
    "(with calls of very different lengths), and the results in the order of `urls`.",
)

LIMIT = 3
URLS = [f"https://example.com/items?page={n}" for n in range(1, 11)]
# How long each URL's call takes. The first is long and the rest short, so any split of the URLs
# decided up front (slices, chunks, lanes, batches) leaves a slot idle while URLs wait; calls that
# start whenever a slot frees up finish in about the time of the first one.
DURATIONS = dict(zip(URLS, [0.3, 0.04, 0.07, 0.04, 0.07, 0.04, 0.07, 0.04, 0.07, 0.04], strict=True))


class CountingFetch:
    """A stand-in for an HTTP request that counts how many calls are in progress at once."""

    def __init__(self):
        self.in_flight = self.max_in_flight = 0
        self.calls = []
        self.finished = []  # URLs in the order their calls ended

    async def __call__(self, url):
        self.calls.append(url)
        watch = _semaphores.get()
        if watch is not None:
            watch.call_started()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            with span("fetch", kind="fetch"):
                await asyncio.sleep(DURATIONS.get(url, 0.05))
        finally:
            self.in_flight -= 1
        self.finished.append(url)
        return f"<page {url}>"


# What the statement promises, each tried below: `fetch(url)` once per URL; the results in the
# order of `urls`; at most `limit` calls in flight (and when there were more, the message says what
# the answer did: no semaphore, one per call, a semaphore not held around the call); `limit` of
# them whenever enough are waiting, with calls of uneven lengths, so that a split decided up front
# (slices, chunks, batches) leaves a slot idle while URLs wait.
@q2.judge
async def judge_fetch_all_limited(trial, fetch_all_limited):
    fetch = CountingFetch()
    doing = f"`fetch_all_limited(fetch, urls, {LIMIT})`"
    with _SemaphoreWatch() as watch:
        pages = await trial.call(fetch_all_limited, fetch, URLS, LIMIT, timeline=True, doing=doing)
    expected = [f"<page {url}>" for url in URLS]
    trial.expect(
        sorted(fetch.calls) == sorted(URLS),
        f"{doing} called `fetch` {len(fetch.calls)} times for {len(URLS)} URLs: call it once per URL.",
    )
    if isinstance(pages, (list, tuple)) and list(pages) != expected and sorted(pages) == sorted(expected):
        # Said only when it is so: pages gathered from a set (`asyncio.wait`) come in no order at all.
        finishing = (
            " in the order the calls finished"
            if list(pages) == [f"<page {u}>" for u in fetch.finished]
            else " in another order"
        )
        trial.fail(
            f"{doing} returned the pages{finishing}; return them in the "
            f"order of `urls` (`asyncio.gather` keeps that order)."
        )
    trial.expect_equal(list(pages) if isinstance(pages, tuple) else pages, expected, f"{doing} returned")
    reference_args = (CountingFetch(), URLS, LIMIT)
    in_flight = trial.timeline.max_concurrency("fetch")
    if in_flight > LIMIT:
        reference = await trial.reference_timeline(*reference_args)
        trial.fail(
            f"{in_flight} of your calls of `fetch` ran at the same time; at most {LIMIT} should. "
            f"{watch.too_many_because(LIMIT, in_flight, 'calls', '`await fetch(url)`')}",
            timelines=(trial.timeline, reference),
        )
    await trial.expect_concurrency(
        waits="fetch",
        at_least=LIMIT,
        what="calls of `fetch`",
        reference_args=reference_args,
        advice="Start every call at once (`asyncio.gather`) and let the semaphore hold back the extra ones.",
    )
    calls = [s for s in trial.timeline.spans if s.kind == "fetch"]
    began = min(s.start for s in calls)  # every URL is waiting from the first call on
    await trial.expect_slots_busy(
        [Job(began, s.start, s.end) for s in calls],
        limit=LIMIT,
        what="calls of `fetch`",
        waiting="URLs",
        reference_args=reference_args,
        advice="Don't decide up front which calls go together: a split fixed in advance (slices, "
        "chunks, batches) leaves a slot idle behind a slow call. Start every call at once "
        "(`asyncio.gather` over one `fetch_one(url)` per URL), each holding one shared semaphore "
        "only for its call: a new call starts as soon as one ends.",
    )


# --- q3: a transaction that rolls back -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def atomic(db):
    await db.execute("BEGIN")
    try:
        yield db
    except BaseException:  # an error, and also a cancellation
        if db.in_transaction:  # nothing to roll back if the block's failure already ended it
            await db.execute("ROLLBACK")
        raise
    else:
        # Outside the `try`: a cancellation that lands on this await must not lead to a ROLLBACK.
        # aiosqlite has already handed the COMMIT to its thread, which runs it anyway; the
        # cancellation then goes on to the caller, and the block's changes are saved.
        await db.execute("COMMIT")


q3 = Exercise(
    "atomic",
    expects="async context manager",
    reference=atomic,
    hints=[
        'Decorate `async def atomic(db):` with `@contextlib.asynccontextmanager`: `await db.execute("BEGIN")`, '
        'then `yield db`, then `await db.execute("COMMIT")`.',
        'Put the `yield` in `try:`; in the `except` branch `await db.execute("ROLLBACK")` and then '
        "`raise`, so the caller still sees the error. COMMIT in the `else:` branch, not inside the `try`: a "
        "cancellation that lands on the COMMIT must not trigger a ROLLBACK (the COMMIT runs anyway in "
        "aiosqlite's thread).",
        "Cancellation raises `CancelledError`, which is not an `Exception`: catch `BaseException` there, "
        "or the transaction stays open when the task is cancelled.",
    ],
    success="`atomic` commits a block that finishes, rolls back one that raises or is cancelled, and "
    "lets a cancellation that lands on the COMMIT go on to the caller.",
)


async def _values(db):
    async with db.execute("SELECT x FROM numbers ORDER BY x") as cursor:
        return [x for (x,) in await cursor.fetchall()]


def _check_rolled_back(trial, db, values, before, when):
    trial.expect(
        not db.in_transaction,
        f"{when}, the transaction was still open (`db.in_transaction` is True): "
        f'`await db.execute("ROLLBACK")` before letting the exception go on.',
    )
    trial.expect(
        values == before,
        f"{when}, the table held {values} instead of {before}: the block's changes were kept. "
        f"Roll back instead of committing when the block fails (no COMMIT in `finally:`).",
    )


# What the statement promises, each tried below: BEGIN when the block starts; COMMIT when it
# finishes; ROLLBACK when it raises, and the exception goes on; ROLLBACK when it is cancelled, and
# the cancellation goes on; and a cancellation that lands on the COMMIT itself still reaches the
# caller (the COMMIT has gone to aiosqlite's thread and runs anyway: no ROLLBACK may follow it).
@q3.judge
async def judge_atomic(trial, atomic):
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        await db.execute("CREATE TABLE numbers (x INTEGER NOT NULL CHECK (x >= 0))")

        manager = await trial.context_manager(atomic, db)
        async with trial.step("`async with atomic(db):` around two INSERTs"):
            async with manager:
                began = db.in_transaction
                await db.execute("INSERT INTO numbers VALUES (1)")
                await db.execute("INSERT INTO numbers VALUES (2)")
        trial.expect(
            began,
            "Inside `async with atomic(db):` there was no transaction (`db.in_transaction` "
            'was False): `await db.execute("BEGIN")` before the `yield`.',
        )
        trial.expect(
            not db.in_transaction,
            "After a block that finished, the transaction was still open: "
            '`await db.execute("COMMIT")` after the `yield`.',
        )
        trial.expect_equal(await _values(db), [1, 2], "After a block that inserted 1 and 2, the table held")

        manager = await trial.context_manager(atomic, db)
        async with trial.step("`async with atomic(db):` around an INSERT that breaks the CHECK constraint"):
            with trial.expect_raises(
                sqlite3.IntegrityError,
                "`atomic` swallowed the IntegrityError raised in its block: after "
                "the ROLLBACK, `raise` it again so the caller knows the block failed.",
            ):
                async with manager:
                    await db.execute("INSERT INTO numbers VALUES (3)")
                    await db.execute("INSERT INTO numbers VALUES (-1)")  # CHECK (x >= 0) fails
        _check_rolled_back(trial, db, await _values(db), [1, 2], "After a block that raised IntegrityError")

        manager = await trial.context_manager(atomic, db)

        async def cancelled_body():
            async with manager:
                await db.execute("INSERT INTO numbers VALUES (4)")
                await asyncio.sleep(10)

        async with trial.step("a task in `async with atomic(db):`, cancelled after one INSERT"):
            task = await cancel_during(cancelled_body, after=0.1)
        trial.expect(
            not db.in_transaction,
            "When the task was cancelled inside the block, the transaction stayed open. "
            "Cancellation raises `CancelledError`, which is not an `Exception`: roll back in "
            "`except BaseException:` (then `raise`).",
        )
        _check_rolled_back(trial, db, await _values(db), [1, 2], "After the task was cancelled")
        trial.expect_cancelled(task, "When the task was cancelled inside the block")
        await _judge_cancelled_at_commit(trial, atomic, db)


def _commits(function, args) -> bool:
    """Does this call, queued for aiosqlite's thread, end the transaction?"""
    sql = args[0] if args and isinstance(args[0], str) else ""
    return getattr(function, "__name__", "") == "commit" or sql.strip().upper().startswith(("COMMIT", "END"))


async def _judge_cancelled_at_commit(trial, atomic, db):
    """Cancel the block's task just as its COMMIT reaches the database thread.

    The COMMIT is held for a moment in aiosqlite's thread, before it reaches SQLite, while the
    cancellation reaches the task: so the answer's cleanup runs while the COMMIT is queued, as it
    may in real life. Held there, not inside SQLite (a trace callback): a callback runs holding the
    connection's lock, and a cleanup that reads ``db.in_transaction`` on the loop's thread meanwhile
    would wait for that lock while holding the GIL the callback needs.
    """
    loop = asyncio.get_running_loop()
    state: dict = {"task": None, "fired": False}
    queue_call = db._execute  # aiosqlite's one door to its thread: every call goes through it

    async def watched_execute(function, *args, **kwargs):
        if state["task"] is not None and not state["fired"] and _commits(function, args):
            state["fired"] = True
            task = state["task"]

            def held(*args, **kwargs):  # runs in aiosqlite's thread
                loop.call_soon_threadsafe(task.cancel)
                time.sleep(0.05)  # this thread only: the cancellation reaches the task before the COMMIT runs
                return function(*args, **kwargs)

            return await queue_call(held, *args, **kwargs)
        return await queue_call(function, *args, **kwargs)

    manager = await trial.context_manager(atomic, db)

    async def body():
        async with manager:
            await db.execute("INSERT INTO numbers VALUES (5)")

    db._execute = watched_execute
    try:
        async with trial.step("a task in `async with atomic(db):`, cancelled while its COMMIT ran"):
            state["task"] = task = asyncio.create_task(body())
            await wait_for_tasks([task])
            failure = None if task.cancelled() else task.exception()
    finally:
        del db._execute  # the class's own again
    await db.execute("SELECT 1")  # queued after all the answer queued: by its reply, that has run
    if not state["fired"]:
        return  # no COMMIT statement was seen (committed some other way): nothing more to try
    if failure is not None:
        saved = "the row was saved" if 5 in await _values(db) else "the row was not saved"
        trial.fail(
            f'When a cancellation landed on `await db.execute("COMMIT")`, `atomic` raised '
            f"{diagnose.short_repr(failure, 90)} instead of letting the cancellation go on. The COMMIT "
            f"had already gone to aiosqlite's thread and ran anyway ({saved}); a ROLLBACK sent after "
            f"it finds no transaction. COMMIT in the `else:` branch of the `try` (not inside it), "
            f"and roll back only while `db.in_transaction`."
        )
    trial.expect(
        not db.in_transaction,
        'When a cancellation landed on `await db.execute("COMMIT")`, the transaction was left open.',
    )
    trial.expect_cancelled(task, 'When a cancellation landed on `await db.execute("COMMIT")`')


# --- q4: a class that always gives back what it took -----------------------------------------------------


class Borrow:
    def __init__(self, pool):
        self.pool = pool
        self.connection = None

    async def __aenter__(self):
        self.connection = await self.pool.acquire()
        return self.connection

    async def __aexit__(self, exc_type, exc, tb):
        # An await here can be cut short by a second cancellation: fine when release() cannot
        # lose the connection halfway (04 shows the trade-off, and a pool that never awaits here).
        await self.pool.release(self.connection)
        return False  # let any exception through


q4 = Exercise(
    "Borrow",
    expects="async context manager",
    reference=Borrow,
    hints=[
        "`__init__` only stores the pool: acquiring needs `await`, and `__init__` cannot await.",
        "`async def __aenter__(self)`: `self.connection = await self.pool.acquire()`, then return the "
        "connection (that is what `as conn` receives).",
        "`async def __aexit__(self, exc_type, exc, tb)`: `await self.pool.release(self.connection)` "
        "whatever `exc_type` is, and return False (or nothing) so exceptions go on.",
    ],
    success="`Borrow` hands out a connection and always gives it back: after success, error or cancellation, "
    "also with two borrowers at once.",
)


class CheckedPool:
    """A pool of two fake connections that remembers who took what and what came back."""

    def __init__(self):
        self.free = ["connection #1", "connection #2"]
        self.released = []
        self.given_back = []

    async def acquire(self):
        await asyncio.sleep(0.01)  # a real pool may have to wait, or to connect
        if not self.free:
            raise RuntimeError("the pool is empty: every connection was taken and none given back")
        return self.free.pop(0)

    async def release(self, connection):
        self.given_back.append(connection)  # every attempt, refused or not
        await asyncio.sleep(0.01)
        if connection not in ("connection #1", "connection #2") or connection in self.free:
            raise RuntimeError(f"release({connection!r}): that is not a connection this pool lent out")
        self.released.append(connection)
        self.free.append(connection)

    def lent(self):
        return 2 - len(self.free)


def _check_given_back(trial, pool, when):
    trial.expect(
        pool.lent() == 0,
        f"{when}, the connection was not given back to the pool: "
        f"`await self.pool.release(...)` in `__aexit__`, whatever `exc_type` is.",
    )


# What the statement promises, each tried below: nothing taken before the block; `await
# pool.acquire()` when it starts, the connection handed over as `conn`; `await pool.release(conn)`
# after the block finishes, raises (the exception goes on) or is cancelled (so does the
# cancellation); and each `Borrow` keeps its own connection: two borrowers at once each give back
# the one they got.
@q4.judge
async def judge_borrow(trial, Borrow):
    pool = CheckedPool()
    manager = await trial.context_manager(Borrow, pool)
    trial.expect(
        pool.lent() == 0,
        "`Borrow(pool)` took a connection already: take it in `__aenter__` (with `await`), not in `__init__`.",
    )
    async with trial.step("`async with Borrow(pool) as conn:`"):
        async with manager as conn:
            lent_inside = pool.lent()
            await asyncio.sleep(0.02)
    trial.expect(
        lent_inside == 1,
        "Inside `async with Borrow(pool) as conn:` no connection was taken "
        "from the pool: `await self.pool.acquire()` in `__aenter__`.",
    )
    trial.expect(
        isinstance(conn, str) and conn.startswith("connection #"),
        f"`async with Borrow(pool) as conn` gave `conn = {diagnose.short_repr(conn, 50)}`; "
        f"`__aenter__` should return the connection from `pool.acquire()`, not the `Borrow` object.",
    )
    _check_given_back(trial, pool, "After a block that finished")

    manager = await trial.context_manager(Borrow, pool)
    async with trial.step("`async with Borrow(pool):` around a block that raises KeyError"):
        with trial.expect_raises(
            KeyError,
            "`Borrow` swallowed the KeyError raised in its block: `__aexit__` must return False (or None), not True.",
        ):
            async with manager:
                raise KeyError("raised inside the block")
    _check_given_back(trial, pool, "After a block that raised KeyError")

    manager = await trial.context_manager(Borrow, pool)

    async def cancelled_body():
        async with manager:
            await asyncio.sleep(10)

    async with trial.step("a task in `async with Borrow(pool):`, cancelled after 0.05 s"):
        task = await cancel_during(cancelled_body)
    _check_given_back(trial, pool, "After the task was cancelled inside the block")
    trial.expect_cancelled(task, "When the task was cancelled inside the block")
    await _judge_two_borrowers(trial, Borrow)


async def _judge_two_borrowers(trial, Borrow):
    """Two blocks at once, each with its own `Borrow`: each must give back what it got."""
    pool = CheckedPool()
    before = {k: v for k, v in vars(Borrow).items() if not callable(v)}
    got = {}

    async def borrower(name, pause):
        async with Borrow(pool) as conn:
            got[name] = conn
            await asyncio.sleep(pause)

    async with trial.step("two tasks, each in its own `async with Borrow(pool) as conn:`, at the same time"):
        tasks = [asyncio.create_task(borrower("first", 0.05)), asyncio.create_task(borrower("second", 0.1))]
        await wait_for_tasks(tasks)
        errors = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
    changed = sorted(k for k, v in vars(Borrow).items() if not callable(v) and before.get(k, object()) is not v)
    if pool.lent() == 0 and not errors:
        return
    never = [c for c in ("connection #1", "connection #2") if c in got.values() and c not in pool.released]
    where = (
        f" `Borrow.{changed[0]}` is a class attribute, shared by every `Borrow`: the second borrower "
        f"overwrote the first one's connection."
        if changed
        else ""
    )
    trial.fail(
        f"Two `async with Borrow(pool) as conn:` blocks at once got "
        f"{' and '.join(repr(got[k]) for k in sorted(got))}, but gave back "
        f"{', '.join(map(repr, pool.given_back)) or 'nothing'}"
        f"{', and ' + ' and '.join(map(repr, never)) + ' never came back' if never else ''}.{where} Keep the "
        f"connection on the instance (`self.connection = await self.pool.acquire()`), so each "
        f"`Borrow` gives back its own."
    )


# --- q5 (transfer): a rate limiter from a semaphore and a clock ---------------------------------------


class RateLimiter:
    def __init__(self, calls, period):
        self.period = period
        self.starts = asyncio.Semaphore(calls)  # one permit per start allowed in the current window

    async def __aenter__(self):
        await self.starts.acquire()
        # The permit comes back `period` seconds after this start, however long the block runs.
        asyncio.get_running_loop().call_later(self.period, self.starts.release)
        return self

    async def __aexit__(self, *exc_info):
        return False


q5 = Exercise(
    "RateLimiter",
    expects="async context manager",
    reference=RateLimiter,
    time_limit=10.0,  # three schedules of about half a second each, also on a busy machine
    hints=[
        "A semaphore held for the whole block limits how many blocks run *at once*. Here the limit is on "
        "how many *start* within `period` seconds: a start uses up a permit for `period` seconds, no longer "
        "and no shorter, whatever the block does.",
        "In `__aenter__`, `await self.starts.acquire()` on an `asyncio.Semaphore(calls)`; then give the "
        "permit back `period` seconds later, without making anyone wait for it: "
        "`asyncio.get_running_loop().call_later(period, self.starts.release)`.",
        "`__aexit__` then has nothing to do: return False so exceptions go on. A block that fails or is "
        "cancelled has still used its start.",
    ],
    success="`RateLimiter` lets at most `calls` blocks start in any `period` seconds, keeps them coming at "
    "that rate while callers wait, and does not make long blocks hold up the next start.",
)

# A window a little shorter than the period, so timer jitter on a busy machine never counts as a burst.
_WINDOW_SLACK = 0.8


def _most_starts_in_a_window(starts, window):
    starts = sorted(starts)
    return max((sum(1 for t in starts[i:] if t - s < window) for i, s in enumerate(starts)), default=0)


async def _start_times(trial, RateLimiter, calls, period, jobs, hold, doing):
    """Run ``jobs`` tasks at once through one limiter; each holds its block ``hold`` s. Start times."""
    limiter = await trial.context_manager(RateLimiter, calls, period)
    loop = asyncio.get_running_loop()
    began = loop.time()
    starts = []

    async def job():
        async with limiter:
            starts.append(loop.time() - began)
            await asyncio.sleep(hold)

    async with trial.step(doing):
        async with asyncio.TaskGroup() as tg:
            for _ in range(jobs):
                tg.create_task(job())
        await asyncio.sleep(period * 1.2)  # every permit back (a limiter may return them from a task)
    return sorted(starts), limiter


@q5.judge
async def judge_rate_limiter(trial, RateLimiter):
    # Promises: (1) at most `calls` starts in any `period` s; (2) while callers wait, starts keep
    # coming at that rate (not slower); (3) a block longer than the period does not delay the next
    # start: starts are limited, not blocks running at once; (4) a block that raises, or a caller
    # cancelled while waiting, leaves the limiter working.
    calls, period = 3, 0.2
    starts, _ = await _start_times(
        trial, RateLimiter, calls, period, 9, 0.01, "9 tasks through `RateLimiter(3, 0.2)`, short blocks"
    )
    most = _most_starts_in_a_window(starts, period * _WINDOW_SLACK)
    trial.expect(
        most <= calls,
        f"{most} blocks started within {period} s with `RateLimiter({calls}, {period})` (starts at "
        f"{', '.join(f'{t:.2f}' for t in starts)} s): at most {calls} may start in any {period} s.",
    )
    # 9 starts at 3 per 0.2 s: the last one at about 0.4 s.
    trial.expect(
        starts[-1] < 2 * period * (9 // calls - 1) + 0.15,
        f"9 blocks through `RateLimiter({calls}, {period})` took until {starts[-1]:.2f} s to start, but "
        f"{calls} may start every {period} s, so the last one could start at about "
        f"{period * (9 // calls - 1):.1f} s: give each permit back `period` seconds after its start.",
    )

    starts, _ = await _start_times(
        trial, RateLimiter, 2, 0.1, 6, 0.5, "6 tasks through `RateLimiter(2, 0.1)`, each block 0.5 s long"
    )
    trial.expect(
        starts[-1] < 0.35,
        f"With `RateLimiter(2, 0.1)` and blocks of 0.5 s, the 6th block started at {starts[-1]:.2f} s instead "
        f"of about 0.2 s: your limiter waits for blocks to *end* (a semaphore held across the block limits "
        f"how many run at once). A rate limit counts *starts*: give the permit back `period` seconds after "
        f"the start, whether or not the block has ended.",
    )

    limiter = await trial.context_manager(RateLimiter, 1, 0.1)
    async with trial.step("`async with RateLimiter(1, 0.1):` around a block that raises KeyError"):
        with trial.expect_raises(KeyError, "`RateLimiter` swallowed the KeyError raised in its block."):
            async with limiter:
                raise KeyError("raised inside the block")
        await asyncio.sleep(0.12)  # the permit back before the step ends

    async def wait_for_a_start():
        async with limiter:
            pass

    async with trial.step("a task waiting in `async with limiter:`, cancelled, then another start"):
        await wait_for_a_start()  # uses the only start of the next 0.1 s...
        await cancel_during(wait_for_a_start, after=0.02)  # ...so this one is cancelled while it waits
        later = asyncio.ensure_future(wait_for_a_start())
        done, _ = await wait_for_tasks([later], timeout=1.0)
        if not done:
            await stop_tasks([later])
        await asyncio.sleep(0.12)  # every permit back before the step ends
    trial.expect(
        bool(done),
        "After a block that raised and a caller cancelled while waiting, `RateLimiter(1, 0.1)` let no "
        "block start for a whole second: a permit was lost. Take a permit only in `__aenter__`, and "
        "give every permit taken back on the clock.",
    )

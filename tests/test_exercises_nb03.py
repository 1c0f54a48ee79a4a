"""Notebook 03's exercises: each passes with its reference answer and gives the intended message
for the typical wrong answers. Checks run with ``asyncio.run``; every warning is an error here."""

import asyncio
import contextlib
import time

import pytest

from asynclab.exercises.nb03 import q1, q2, q3, q4
from exercise_checks import assert_fails, assert_passes, check

pytestmark = pytest.mark.filterwarnings("error")


# --- q1: timed(label, log) ------------------------------------------------------------------------------

class TimedClass:
    def __init__(self, label, log):
        self.label, self.log = label, log

    async def __aenter__(self):
        self.start = time.perf_counter()

    async def __aexit__(self, *exc_info):
        self.log.append((self.label, time.perf_counter() - self.start))


@contextlib.asynccontextmanager
async def timed_stub(label, log):
    """Append (label, seconds) to log when the block ends."""
    raise NotImplementedError
    yield


@contextlib.asynccontextmanager
async def timed_without_finally(label, log):
    start = time.perf_counter()
    yield
    log.append((label, time.perf_counter() - start))


@contextlib.asynccontextmanager
async def timed_swallowing(label, log):
    start = time.perf_counter()
    try:
        yield
    except Exception:
        pass
    log.append((label, time.perf_counter() - start))


@contextlib.asynccontextmanager
async def timed_except_exception(label, log):
    start = time.perf_counter()
    try:
        yield
    except Exception:
        log.append((label, time.perf_counter() - start))
        raise
    log.append((label, time.perf_counter() - start))


@contextlib.asynccontextmanager
async def timed_at_entry(label, log):
    start = time.perf_counter()
    log.append((label, time.perf_counter() - start))
    yield


@contextlib.asynccontextmanager
async def timed_in_milliseconds(label, log):
    start = time.perf_counter()
    try:
        yield
    finally:
        log.append((label, (time.perf_counter() - start) * 1000))


@contextlib.contextmanager
def timed_sync(label, log):
    start = time.perf_counter()
    try:
        yield
    finally:
        log.append((label, time.perf_counter() - start))


def test_timed_reference_and_a_class_pass():
    assert_passes(check(q1, q1.reference))
    assert_passes(check(q1, TimedClass))


def test_timed_stub_is_not_answered():
    assert check(q1, timed_stub).status == "not answered"


def test_timed_without_finally_loses_the_failing_block():
    assert_fails(check(q1, timed_without_finally), "When the block raised ValueError, `log` is still empty",
                 "finally:")


def test_timed_swallowing_the_exception():
    assert_fails(check(q1, timed_swallowing), "swallowed the ValueError")


def test_timed_catching_exception_misses_cancellation():
    assert_fails(check(q1, timed_except_exception), "When the block was cancelled, nothing was appended",
                 "not an `Exception`")


def test_timed_appending_at_entry():
    assert_fails(check(q1, timed_at_entry), "already had an entry inside the block")


def test_timed_in_milliseconds():
    assert_fails(check(q1, timed_in_milliseconds), "took about 0.2 s", "Measure in seconds")


def test_timed_regular_context_manager():
    assert_fails(check(q1, timed_sync), "regular generator function", "asynccontextmanager")


# --- q2: fetch_all_limited(fetch, urls, limit) -------------------------------------------------------------

async def limited_taskgroup(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(url):
        async with semaphore:
            return await fetch(url)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(url)) for url in urls]
    return [task.result() for task in tasks]


async def limited_stub(fetch, urls, limit):
    """Fetch every URL, at most `limit` at a time."""
    ...


async def limited_without_semaphore(fetch, urls, limit):
    return await asyncio.gather(*(fetch(url) for url in urls))


async def limited_semaphore_per_call(fetch, urls, limit):
    async def one(url):
        async with asyncio.Semaphore(limit):  # a new semaphore for every call
            return await fetch(url)

    return await asyncio.gather(*(one(url) for url in urls))


async def limited_sequential(fetch, urls, limit):
    return [await fetch(url) for url in urls]


async def limited_in_finishing_order(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(url):
        async with semaphore:
            return await fetch(url)

    return [await next_done for next_done in asyncio.as_completed([one(url) for url in urls])]


async def limited_forgot_await(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(url):
        async with semaphore:
            return await fetch(url)

    return asyncio.gather(*(one(url) for url in urls))


def test_limited_reference_and_taskgroup_pass():
    assert_passes(check(q2, q2.reference))
    assert_passes(check(q2, limited_taskgroup))


def test_limited_stub_is_not_answered():
    assert check(q2, limited_stub).status == "not answered"


def test_limited_without_semaphore():
    result = check(q2, limited_without_semaphore)
    assert_fails(result, "10 of your calls of `fetch` ran at the same time; at most 3 should",
                 "one `asyncio.Semaphore(limit)`")
    assert result.timelines is not None  # the learner's diagram beside the reference one


def test_limited_semaphore_created_per_call():
    assert_fails(check(q2, limited_semaphore_per_call), "at most 3 should", "limits nothing")


def test_limited_sequential():
    assert_fails(check(q2, limited_sequential), "ran one after another", "asyncio.gather")


def test_limited_results_in_finishing_order():
    assert_fails(check(q2, limited_in_finishing_order), "in the order the calls finished")


def test_limited_forgotten_await():
    assert_fails(check(q2, limited_forgot_await), "unfinished Future", "`await` it")


# --- q3: atomic(db) -----------------------------------------------------------------------------------------

class AtomicClass:
    def __init__(self, db):
        self.db = db

    async def __aenter__(self):
        await self.db.execute("BEGIN")
        return self.db

    async def __aexit__(self, exc_type, exc, tb):
        await self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


@contextlib.asynccontextmanager
async def atomic_without_rollback(db):
    await db.execute("BEGIN")
    yield db
    await db.execute("COMMIT")


@contextlib.asynccontextmanager
async def atomic_except_exception(db):
    await db.execute("BEGIN")
    try:
        yield db
        await db.execute("COMMIT")
    except Exception:
        await db.execute("ROLLBACK")
        raise


@contextlib.asynccontextmanager
async def atomic_commit_in_finally(db):
    await db.execute("BEGIN")
    try:
        yield db
    finally:
        await db.execute("COMMIT")


@contextlib.asynccontextmanager
async def atomic_swallowing(db):
    await db.execute("BEGIN")
    try:
        yield db
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")


@contextlib.asynccontextmanager
async def atomic_without_begin(db):
    try:
        yield db
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


def test_atomic_reference_and_a_class_pass():
    assert_passes(check(q3, q3.reference))
    assert_passes(check(q3, AtomicClass))


def test_atomic_without_rollback_leaves_the_transaction_open():
    assert_fails(check(q3, atomic_without_rollback), "After a block that raised IntegrityError",
                 "still open", "ROLLBACK")


def test_atomic_catching_exception_misses_cancellation():
    assert_fails(check(q3, atomic_except_exception), "cancelled inside the block, the transaction stayed open",
                 "BaseException")


def test_atomic_commit_in_finally_keeps_the_failed_changes():
    assert_fails(check(q3, atomic_commit_in_finally), "held [1, 2, 3] instead of [1, 2]", "Roll back")


def test_atomic_swallowing_the_error():
    assert_fails(check(q3, atomic_swallowing), "swallowed the IntegrityError")


def test_atomic_without_begin():
    # With isolation_level=None nothing starts a transaction implicitly: the block autocommits.
    assert_fails(check(q3, atomic_without_begin), "there was no transaction", "BEGIN")


# --- q4: Borrow(pool) ----------------------------------------------------------------------------------------

class BorrowStub:
    def __init__(self, pool):
        ...

    async def __aenter__(self):
        ...

    async def __aexit__(self, exc_type, exc, tb):
        ...


class BorrowOnlyOnSuccess:
    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        self.connection = await self.pool.acquire()
        return self.connection

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None:
            await self.pool.release(self.connection)


class BorrowSuppressing:
    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        self.connection = await self.pool.acquire()
        return self.connection

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(self.connection)
        return True


class BorrowReturningSelf:
    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        self.connection = await self.pool.acquire()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(self.connection)


class BorrowSync:
    def __init__(self, pool):
        self.pool = pool

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


class BorrowTakingInInit:
    def __init__(self, pool):
        self.pool = pool
        self.connection = pool.free.pop(0)  # taken at once, whether or not a block ever runs

    async def __aenter__(self):
        return self.connection

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(self.connection)


def test_borrow_reference_passes():
    assert_passes(check(q4, q4.reference))


def test_borrow_stub_is_not_answered():
    assert check(q4, BorrowStub).status == "not answered"


def test_borrow_releasing_only_on_success():
    assert_fails(check(q4, BorrowOnlyOnSuccess), "After a block that raised KeyError",
                 "not given back", "whatever `exc_type` is")


def test_borrow_suppressing_exceptions():
    assert_fails(check(q4, BorrowSuppressing), "swallowed the KeyError", "return False")


def test_borrow_returning_itself():
    assert_fails(check(q4, BorrowReturningSelf), "gave `conn = <", "not the `Borrow` object")


def test_borrow_regular_context_manager():
    assert_fails(check(q4, BorrowSync), "regular context manager", "async def __aenter__")


def test_borrow_taking_in_init():
    assert_fails(check(q4, BorrowTakingInInit), "took a connection already", "not in `__init__`")

"""Answers to notebook 03's exercises: timed (q1), fetch_all_limited (q2), atomic (q3), Borrow (q4),
RateLimiter (q5)."""

import asyncio
import collections
import contextlib
import time

from corpus import right, wrong

# --- q1: timed(label, log) ---------------------------------------------------------------------------


@right("q1")
@contextlib.asynccontextmanager
async def timed_finally(label, log):
    start = time.perf_counter()
    try:
        yield
    finally:
        log.append((label, time.perf_counter() - start))


@right("q1")
class TimedClass:
    def __init__(self, label: str, log: list) -> None:
        self.label, self.log = label, log

    async def __aenter__(self):
        self.start = time.monotonic()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        self.log.append((self.label, time.monotonic() - self.start))
        return False


@right("q1")
@contextlib.asynccontextmanager
async def timed_except_base_exception(label, log):
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        yield
    except BaseException:
        log.append((label, loop.time() - start))
        raise
    else:
        log.append((label, loop.time() - start))


@right("q1")
@contextlib.asynccontextmanager
async def timed_with_print(label, log):
    start = time.perf_counter()
    try:
        yield start
    finally:
        elapsed = time.perf_counter() - start
        print(f"{label}: {elapsed:.3f} s")
        log.append((label, elapsed))


@wrong("q1", "is still empty")
@contextlib.asynccontextmanager
async def timed_no_finally(label, log):
    start = time.perf_counter()
    yield
    log.append((label, time.perf_counter() - start))


@wrong("q1", "swallowed the ValueError")
@contextlib.asynccontextmanager
async def timed_swallowing(label, log):
    start = time.perf_counter()
    try:
        yield
    except Exception:
        pass
    log.append((label, time.perf_counter() - start))


@wrong("q1", "nothing was appended", "not an `Exception`")
@contextlib.asynccontextmanager
async def timed_except_exception(label, log):
    start = time.perf_counter()
    try:
        yield
    except Exception:
        log.append((label, time.perf_counter() - start))
        raise
    log.append((label, time.perf_counter() - start))


@wrong("q1", "already had an entry inside the block")
@contextlib.asynccontextmanager
async def timed_at_entry(label, log):
    start = time.perf_counter()
    log.append((label, time.perf_counter() - start))
    yield


@wrong("q1", "Measure in")
@contextlib.asynccontextmanager
async def timed_milliseconds(label, log):
    start = time.perf_counter()
    try:
        yield
    finally:
        log.append((label, (time.perf_counter() - start) * 1000))


@wrong("q1", "swallowed the `CancelledError`")
@contextlib.asynccontextmanager
async def timed_swallowing_cancellation(label, log):
    start = time.perf_counter()
    try:
        yield
    except asyncio.CancelledError:
        pass
    finally:
        log.append((label, time.perf_counter() - start))


@wrong("q1", "regular generator function", "asynccontextmanager")
@contextlib.contextmanager
def timed_sync(label, log):
    start = time.perf_counter()
    try:
        yield
    finally:
        log.append((label, time.perf_counter() - start))


# --- q2: fetch_all_limited(fetch, urls, limit) -------------------------------------------------------------


@right("q2")
async def limited_gather(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def fetch_one(url):
        async with semaphore:
            return await fetch(url)

    return await asyncio.gather(*(fetch_one(url) for url in urls))


@right("q2")
async def limited_task_group(fetch, urls: list[str], limit: int) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def fetch_one(url):
        async with semaphore:
            return await fetch(url)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]


@right("q2")
async def limited_workers(fetch, urls, limit):
    results = [None] * len(urls)
    todo = iter(enumerate(urls))

    async def worker():
        for i, url in todo:  # shared iterator: each worker takes the next URL when it is free
            results[i] = await fetch(url)

    await asyncio.gather(*(worker() for _ in range(limit)))
    return results


@right("q2")
async def limited_window(fetch, urls, limit):
    tasks, running = [], set()
    for url in urls:
        if len(running) >= limit:
            _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.ensure_future(fetch(url))
        tasks.append(task)
        running.add(task)
    await asyncio.wait(tasks)
    return [task.result() for task in tasks]


@right("q2")
async def limited_as_completed(fetch, urls, limit):
    semaphore = asyncio.BoundedSemaphore(limit)
    results = {}

    async def fetch_one(i, url):
        async with semaphore:
            return i, await fetch(url)

    for done in asyncio.as_completed([fetch_one(i, url) for i, url in enumerate(urls)]):
        i, page = await done
        results[i] = page
    return [results[i] for i in range(len(urls))]


@wrong("q2", "10 of your calls of `fetch` ran at the same time", "created no `asyncio.Semaphore`")
async def limited_no_semaphore(fetch, urls, limit):
    return await asyncio.gather(*(fetch(url) for url in urls))


@wrong("q2", "limits nothing", absent=("created no",))
async def limited_semaphore_per_call(fetch, urls, limit):
    async def fetch_one(url):
        async with asyncio.Semaphore(limit):
            return await fetch(url)

    return await asyncio.gather(*(fetch_one(url) for url in urls))


@wrong("q2", "4 of your calls of `fetch`", "one more than `limit`", absent=("limits nothing",))
async def limited_window_off_by_one(fetch, urls, limit):
    tasks, running = [], set()
    for url in urls:
        if len(running) > limit:
            _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(fetch(url))
        tasks.append(task)
        running.add(task)
    return await asyncio.gather(*tasks)


@wrong("q2", "`asyncio.Semaphore(4)`, but `limit` was 3")
async def limited_semaphore_plus_one(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit + 1)

    async def fetch_one(url):
        async with semaphore:
            return await fetch(url)

    return await asyncio.gather(*(fetch_one(url) for url in urls))


@wrong("q2", "ran one after another")
async def limited_sequential(fetch, urls, limit):
    return [await fetch(url) for url in urls]


@wrong("q2", "ran in batches of 3")
async def limited_batches(fetch, urls, limit):
    pages = []
    for i in range(0, len(urls), limit):
        pages += await asyncio.gather(*(fetch(url) for url in urls[i : i + limit]))
    return pages


@wrong("q2", "slots stayed free while URLs were waiting", "decide up front")
async def limited_strided_lanes(fetch, urls, limit):
    results = [None] * len(urls)

    async def lane(start):
        for i in range(start, len(urls), limit):
            results[i] = await fetch(urls[i])

    await asyncio.gather(*(lane(k) for k in range(limit)))
    return results


@wrong("q2", "slots stayed free while URLs were waiting")
async def limited_chunks(fetch, urls, limit):
    size = -(-len(urls) // limit)
    chunks = [urls[i : i + size] for i in range(0, len(urls), size)]

    async def run(chunk):
        return [await fetch(url) for url in chunk]

    parts = await asyncio.gather(*(run(chunk) for chunk in chunks))
    return [page for part in parts for page in part]


@wrong("q2", "in the order the calls finished")
async def limited_completion_order(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)
    pages = []

    async def fetch_one(url):
        async with semaphore:
            pages.append(await fetch(url))

    await asyncio.gather(*(fetch_one(url) for url in urls))
    return pages


# --- q3: atomic(db) -----------------------------------------------------------------------------------


@right("q3")
@contextlib.asynccontextmanager
async def atomic_else_commit(db):
    await db.execute("BEGIN")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            await db.execute("ROLLBACK")
        raise
    else:
        await db.execute("COMMIT")


@right("q3")
class AtomicClass:
    def __init__(self, db):
        self.db = db

    async def __aenter__(self):
        await self.db.execute("BEGIN")
        return self.db

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None:
            await self.db.execute("COMMIT")
        else:
            await self.db.execute("ROLLBACK")
        return False


@right("q3")
@contextlib.asynccontextmanager
async def atomic_commit_method(db):
    await db.execute("BEGIN")
    try:
        yield db
    except BaseException:
        await db.rollback()
        raise
    await db.commit()


@right("q3")
@contextlib.asynccontextmanager
async def atomic_shielded_commit(db):
    await db.execute("BEGIN")
    try:
        yield db
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    commit = asyncio.ensure_future(db.commit())
    try:
        await asyncio.shield(commit)
    except asyncio.CancelledError:
        await commit  # the COMMIT goes on anyway: wait for it, then let the cancellation go on
        raise


@wrong("q3", 'landed on `await db.execute("COMMIT")`', "cannot rollback", "the row was saved")
@contextlib.asynccontextmanager
async def atomic_shield_then_rollback(db):
    await db.execute("BEGIN")
    committed = False
    try:
        yield db
        await asyncio.shield(db.commit())
        committed = True
    finally:
        if not committed and db.in_transaction:
            await db.execute("ROLLBACK")


@wrong("q3", 'landed on `await db.execute("COMMIT")`', "cannot rollback", "`else:`")
@contextlib.asynccontextmanager
async def atomic_commit_inside_try(db):
    await db.execute("BEGIN")
    try:
        yield db
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise


@wrong("q3", "the transaction stayed open", "`except BaseException:`")
@contextlib.asynccontextmanager
async def atomic_except_exception(db):
    await db.execute("BEGIN")
    try:
        yield db
    except Exception:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


@wrong("q3", "swallowed the IntegrityError")
@contextlib.asynccontextmanager
async def atomic_swallowing(db):
    await db.execute("BEGIN")
    try:
        yield db
    except Exception:
        await db.execute("ROLLBACK")
        return
    await db.execute("COMMIT")


@wrong("q3", "no COMMIT in `finally:`")
@contextlib.asynccontextmanager
async def atomic_commit_in_finally(db):
    await db.execute("BEGIN")
    try:
        yield db
    finally:
        await db.execute("COMMIT")


@wrong("q3", 'await db.execute("BEGIN")')
@contextlib.asynccontextmanager
async def atomic_no_begin(db):
    try:
        yield db
    except BaseException:
        await db.rollback()
        raise
    else:
        await db.commit()


@wrong("q3", "transaction was still open", 'await db.execute("COMMIT")')
@contextlib.asynccontextmanager
async def atomic_no_commit(db):
    await db.execute("BEGIN")
    try:
        yield db
    except BaseException:
        await db.execute("ROLLBACK")
        raise


# --- q4: Borrow(pool) -----------------------------------------------------------------------------------


@right("q4")
class BorrowReference:
    def __init__(self, pool):
        self.pool = pool
        self.connection = None

    async def __aenter__(self):
        self.connection = await self.pool.acquire()
        return self.connection

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(self.connection)
        return False


@right("q4")
class BorrowStarExc(contextlib.AbstractAsyncContextManager):
    def __init__(self, pool) -> None:
        self._pool = pool
        self._conn = None

    async def __aenter__(self):
        self._conn = await self._pool.acquire()
        print("borrowed", self._conn)
        return self._conn

    async def __aexit__(self, *exc_info) -> None:
        conn, self._conn = self._conn, None
        await self._pool.release(conn)


@right("q4")
class BorrowTryFinally:
    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        self.conn = await self.pool.acquire()
        return self.conn

    async def __aexit__(self, exc_type, exc_value, traceback):
        try:
            pass  # nothing else to clean up
        finally:
            await self.pool.release(self.conn)


@right("q4")
class BorrowReturnsNone:
    def __init__(self, pool):
        self.pool = pool
        self.taken = []

    async def __aenter__(self):
        conn = await self.pool.acquire()
        self.taken.append(conn)
        return conn

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(self.taken.pop())


@wrong("q4", "`Borrow.connection` is a class attribute", "never came back", "self.connection")
class BorrowOnTheClass:
    connection = None

    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        BorrowOnTheClass.connection = await self.pool.acquire()
        return BorrowOnTheClass.connection

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(BorrowOnTheClass.connection)


_current = {}


@wrong("q4", "Two `async with Borrow(pool) as conn:` blocks at once", "never came back")
class BorrowModuleGlobal:
    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        _current["conn"] = await self.pool.acquire()
        return _current["conn"]

    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(_current["conn"])


@wrong("q4", "not the `Borrow` object")
class BorrowReturnsSelf(BorrowReference):
    async def __aenter__(self):
        self.connection = await self.pool.acquire()
        return self


@wrong("q4", "After a block that raised KeyError", "not given back")
class BorrowOnlyOnSuccess(BorrowReference):
    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None:
            await self.pool.release(self.connection)


@wrong("q4", "swallowed the KeyError")
class BorrowReturnsTrue(BorrowReference):
    async def __aexit__(self, exc_type, exc, tb):
        await self.pool.release(self.connection)
        return True


@wrong("q4", "After the task was cancelled inside the block")
class BorrowExceptException(BorrowReference):
    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None or issubclass(exc_type, Exception):
            await self.pool.release(self.connection)
        return False


# --- q5 (transfer): RateLimiter(calls, period) ------------------------------------------------------------


@right("q5")
class RateLimiterWithTask:
    """Gives each permit back from a task of its own that sleeps for the period."""

    def __init__(self, calls, period):
        self.period = period
        self.permits = asyncio.Semaphore(calls)
        self.returns: set[asyncio.Task] = set()

    async def _give_back_later(self):
        await asyncio.sleep(self.period)
        self.permits.release()

    async def __aenter__(self):
        await self.permits.acquire()
        task = asyncio.create_task(self._give_back_later())
        self.returns.add(task)
        task.add_done_callback(self.returns.discard)
        return self

    async def __aexit__(self, *exc_info):
        return False


@right("q5")
class RateLimiterSpacing:
    """Another right answer: starts evenly spaced, period / calls apart (smoother than bursts)."""

    def __init__(self, calls, period):
        self.gap = period / calls
        self.lock = asyncio.Lock()
        self.next_start = 0.0

    async def __aenter__(self):
        async with self.lock:
            loop = asyncio.get_running_loop()
            wait = self.next_start - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.next_start = max(loop.time(), self.next_start) + self.gap

    async def __aexit__(self, *exc_info):
        return None


@right("q5")
class RateLimiterSlidingWindow:
    """Remembers the last `calls` start times; a new start waits until the oldest is `period` old."""

    def __init__(self, calls: int, period: float) -> None:
        self.calls, self.period = calls, period
        self.starts: collections.deque[float] = collections.deque()
        self.lock = asyncio.Lock()

    async def __aenter__(self) -> "RateLimiterSlidingWindow":
        async with self.lock:
            loop = asyncio.get_running_loop()
            while len(self.starts) >= self.calls:
                wait = self.starts[0] + self.period - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    self.starts.popleft()
            self.starts.append(loop.time())
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return False


@right("q5")
class RateLimiterPermitTimer:
    def __init__(self, calls, period):
        self.calls = calls
        self.period = period
        self.permits = asyncio.Semaphore(calls)

    def _return_permit_later(self):
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + self.period, self.permits.release)

    async def __aenter__(self):
        await self.permits.acquire()
        self._return_permit_later()
        print(f"start allowed ({self.calls} per {self.period} s)")

    async def __aexit__(self, exc_type, exc, tb):
        pass


@wrong("q5", "blocks started within 0.2 s", "may start in any")
class RateLimiterAsConcurrencyLimit:
    """The lesson's semaphore, held across the block: limits how many run at once, not the rate."""

    def __init__(self, calls, period):
        self.semaphore = asyncio.Semaphore(calls)

    async def __aenter__(self):
        await self.semaphore.acquire()

    async def __aexit__(self, *exc_info):
        self.semaphore.release()


@wrong("q5", "your limiter waits for blocks to *end*")
class RateLimiterReleasingAfterTheBlock:
    """Holds the permit across the block, then for one more period: long blocks hold up later starts."""

    def __init__(self, calls, period):
        self.period = period
        self.semaphore = asyncio.Semaphore(calls)

    async def __aenter__(self):
        await self.semaphore.acquire()

    async def __aexit__(self, *exc_info):
        asyncio.get_running_loop().call_later(self.period, self.semaphore.release)


@wrong("q5", "took until", "could start at about 0.4 s")
class RateLimiterOneAtATime:
    """Sleeps a whole period between any two starts: within the limit, but far below the rate."""

    def __init__(self, calls, period):
        self.period = period
        self.lock = asyncio.Lock()

    async def __aenter__(self):
        async with self.lock:
            await asyncio.sleep(self.period)

    async def __aexit__(self, *exc_info):
        return False


@wrong("q5", "a permit was lost")
class RateLimiterLosingACancelledPermit:
    """Hands out numbered places in line; a caller cancelled while it waits never gives its place up."""

    def __init__(self, calls, period):
        self.calls, self.period = calls, period
        self.issued = self.given_back = 0

    async def __aenter__(self):
        place = self.issued
        self.issued += 1
        while place >= self.given_back + self.calls:
            await asyncio.sleep(0.005)  # cancelled here: this place is never given back
        asyncio.get_running_loop().call_later(self.period, self._give_back)

    def _give_back(self):
        self.given_back += 1

    async def __aexit__(self, *exc_info):
        return False


@wrong("q5", "9 blocks started within 0.2 s", "may start in any")
class RateLimiterSleepingAfterEachStart:
    """Sleeps period / calls after letting each start through, without a lock: everyone starts at once."""

    def __init__(self, calls, period):
        self.gap = period / calls

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await asyncio.sleep(self.gap)
        return False
